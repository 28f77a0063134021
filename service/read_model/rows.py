"""A stored entity document -> the rows that project it into the read model.

Everything the read side filters, orders or searches on is derived here, once per
change, from the document MongoDB holds: sort keys, city keys, month buckets,
search terms. The document itself is kept as BSON for the resolvers, without the
fields only writers use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions

from schema.taxonomy import INDUSTRIES
from schema.zones import zone
from service.documents import search_text
from service.documents.normalize import city_key, standard_code_key

COMMUNITIES = "communities"
EVENTS = "events"
STANDARDS = "standards"

# Placeholders put unknown values last in the orders clients expect.
UNKNOWN_FOUNDED = 9999
KEY_SEPARATOR = "\x01"  # sorts below every character of a sort key

# Kept in MongoDB for writes only: match keys are matched on, and contributions (every
# source's copy of every field) are what winners are chosen from; the API shows the
# winners' provenance and the alternatives instead.
_WRITE_ONLY = frozenset({"match_keys", "contributions"})
# Documents come back as MongoDB returns them: aware datetimes in UTC, ObjectIds.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)


@dataclass
class Projected:
    """One entity's rows: its main-table row, its multi-valued fields, its search terms
    and its rows in link tables."""

    collection: str
    id: str
    columns: dict[str, Any]
    values: list[tuple[str, str]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    links: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


def order_key(*parts: str, entity_id: ObjectId) -> str:
    """A unique string that sorts like `parts` (service.read.orders pages on it)."""
    return KEY_SEPARATOR.join([*parts, str(entity_id)])


def instant_key(moment: datetime) -> str:
    # Fixed width (4-digit year, microseconds, always UTC) so strings sort as times.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_doc(doc: Mapping[str, Any]) -> bytes:
    return bson.encode({k: v for k, v in doc.items() if k not in _WRITE_ONLY})


def decode_doc(blob: bytes) -> dict[str, Any]:
    return bson.decode(blob, codec_options=CODEC)


def project(collection: str, doc: Mapping[str, Any]) -> Projected:
    if collection == COMMUNITIES:
        return _community(doc)
    if collection == EVENTS:
        return _event(doc)
    if collection == STANDARDS:
        return _standard(doc)
    raise ValueError(f"{collection!r} is not projected")


def _texts(value: Mapping[str, str] | None) -> list[str]:
    return [v for v in ((value or {}).get("ru"), (value or {}).get("en")) if v]


def _ids(values: Iterable[ObjectId]) -> list[str]:
    return [str(v) for v in values]


def _base(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(doc["_id"]), "slug": doc["slug"], "doc": encode_doc(doc)}


def _community(doc: Mapping[str, Any]) -> Projected:
    entity_id: ObjectId = doc["_id"]
    name = doc["name"]
    members = doc.get("member_count")
    founded = doc.get("founded_year")
    industries = doc.get("industries") or []
    columns = {
        **_base(doc),
        "name_key": order_key(
            search_text.sort_key(name.get("ru") or name.get("en") or ""), entity_id=entity_id
        ),
        # Read descending: unknown (-1 -> 0) comes last.
        "members_key": order_key(
            f"{(members if members is not None else -1) + 1:015d}", entity_id=entity_id
        ),
        "founded_key": order_key(
            f"{founded if founded is not None else UNKNOWN_FOUNDED:04d}", entity_id=entity_id
        ),
        "updated_key": order_key(instant_key(doc["updated_at"]), entity_id=entity_id),
        "kind": doc["kind"],
        "form": doc["form"],
        "formality": doc["formality"],
        "status": doc["status"],
        "city_key": city_key(doc.get("city")),
        "founded_year": founded,
    }
    values = [
        *(("industries", v) for v in industries),
        *(("countries", v) for v in doc.get("countries") or []),
        *(("tags", v) for v in doc.get("tags") or []),
        *(("offers", v) for v in doc.get("offers") or []),
        *(("member_of", v) for v in _ids(doc.get("member_of") or [])),
    ]
    labels = [label for code in industries for label in INDUSTRIES.get(code, ())]
    terms = search_text.terms(
        [*_texts(name), *(doc.get("aliases") or [])],
        [
            *_texts(doc.get("description")),
            *(doc.get("tags") or []),
            *labels,
            *(p for p in (doc.get("city"), doc.get("region")) if p),
        ],
    )
    return Projected(COMMUNITIES, columns["id"], columns, _unique(values), terms)


def event_month(starts_at: datetime, timezone: str) -> str:
    """'YYYY-MM' of the start in the event's own time zone (the month facet)."""
    local = starts_at.astimezone(zone(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch: integer columns compare as the instants do."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _event(doc: Mapping[str, Any]) -> Projected:
    entity_id: ObjectId = doc["_id"]
    venue = doc.get("venue") or {}
    point = (venue.get("location") or {}).get("coordinates")
    columns = {
        **_base(doc),
        "start_key": order_key(instant_key(doc["starts_at"]), entity_id=entity_id),
        "starts_at": epoch_us(doc["starts_at"]),
        "status": doc["status"],
        "format": doc["format"],
        "attendance_mode": doc["attendance_mode"],
        "city_key": city_key(venue.get("city")),
        "country": venue.get("country"),
        "month": event_month(doc["starts_at"], doc["timezone"]),
        "lon": point[0] if point else None,
        "lat": point[1] if point else None,
    }
    links = [("event_organizers", (o, columns["id"])) for o in _ids(doc.get("organizers") or [])]
    terms = search_text.terms(
        _texts(doc["title"]),
        [
            *_texts(doc.get("description")),
            *(doc.get("tags") or []),
            *(p for p in (venue.get("city"), venue.get("name")) if p),
        ],
    )
    return Projected(EVENTS, columns["id"], columns, [], terms, list(dict.fromkeys(links)))


def _standard(doc: Mapping[str, Any]) -> Projected:
    entity_id: ObjectId = doc["_id"]
    code_key = standard_code_key(doc["code"])
    issuer = doc.get("issuer")
    adopters = _ids(doc.get("adopters") or [])
    columns = {
        **_base(doc),
        "code_order": order_key(code_key, entity_id=entity_id),
        "code_key": code_key,
        "kind": doc["kind"],
        "status": doc["status"],
        "issuer": str(issuer) if issuer is not None else None,
    }
    parties = [*([columns["issuer"]] if issuer is not None else []), *adopters]
    values = [
        *(("industries", v) for v in doc.get("industries") or []),
        *(("adopters", v) for v in adopters),
        *(("parties", v) for v in parties),
    ]
    terms = search_text.terms([doc["code"], *_texts(doc["title"])], _texts(doc.get("description")))
    return Projected(STANDARDS, columns["id"], columns, _unique(values), terms)


def _unique(values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(values))
