"""What a record or a stored entity is compared by, whichever side it comes from.

A new listing's profile is built from its validated data; a stored entity's from its
document, whose `match_keys` also carry the names and keys every source that feeds
it gave (service.matching.blocking), so an entity fed by a Russian registry and an
English partner compares by both names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bson import ObjectId

from schema.models import CommunityData, EventData
from service.documents.normalize import website_domain
from service.matching import names

# How many aliases count as names: a list of 50 spellings is a search aid, not a name.
MAX_ALIASES = 5
# Path segments that choose a page's language or file, not a part of the organisation.
_NEUTRAL_SEGMENTS = frozenset(
    ("", *"en ru eng rus index.html index.php home main about about-us contact contacts".split())
)

# Prefixes of the blocking keys kept in `match_keys` beside the hard keys. A listing's
# own match keys start with a letter (schema.models.Listing), so none can pose as these.
SIGNATURE = "~n:"
ACRONYM_OF_FULL_NAME = "~af:"
ABBREVIATION = "~as:"


@dataclass(frozen=True)
class Site:
    domain: str
    path: str


def site(url: str | None) -> Site | None:
    domain = website_domain(url)
    if not domain or not url:
        return None
    segments = [s for s in urlsplit(url).path.lower().split("/") if s not in _NEUTRAL_SEGMENTS]
    return Site(domain, "/".join(segments))


def hard_keys(keys: Iterable[str]) -> dict[str, set[str]]:
    """scheme -> values of the identifier-like keys ("inn:77...", "ics-uid:...")."""
    found: dict[str, set[str]] = {}
    for key in keys:
        if key.startswith("~") or key.startswith("domain:"):
            continue
        scheme, _, value = key.partition(":")
        found.setdefault(scheme, set()).add(value)
    return found


def _keyed(keys: Iterable[str], prefix: str) -> set[str]:
    return {k[len(prefix) :] for k in keys if k.startswith(prefix)}


@dataclass
class CommunityProfile:
    entity_id: ObjectId | None
    sources: set[str]
    forms: list[names.NameForms]
    signatures: set[str]
    acronyms: set[str]
    abbreviations: set[str]
    identifiers: dict[str, set[str]]
    domains: set[str]
    site: Site | None
    city: str | None
    countries: set[str]
    kind: str
    form: str
    formality: str
    member_of: set[ObjectId] = field(default_factory=set)

    @property
    def chapter(self) -> bool:
        return any(f.chapter for f in self.forms)


def _name_forms(
    localized: Mapping[str, Any] | None, aliases: Iterable[str]
) -> list[names.NameForms]:
    texts = [v for v in (localized or {}).values() if isinstance(v, str) and v]
    texts += list(aliases)[:MAX_ALIASES]
    return [names.forms(t) for t in dict.fromkeys(texts)]


def _community(
    entity_id: ObjectId | None,
    sources: set[str],
    forms: list[names.NameForms],
    keys: list[str],
    website: str | None,
    city: str | None,
    countries: Iterable[str],
    kind: str,
    form: str,
    formality: str,
) -> CommunityProfile:
    own_site = site(website)
    return CommunityProfile(
        entity_id=entity_id,
        sources=sources,
        forms=forms,
        signatures={s for f in forms for s in f.signatures} | _keyed(keys, SIGNATURE),
        acronyms={a for f in forms if f.abbreviation is None for a in f.acronyms}
        | _keyed(keys, ACRONYM_OF_FULL_NAME),
        abbreviations={f.abbreviation for f in forms if f.abbreviation}
        | _keyed(keys, ABBREVIATION),
        identifiers=hard_keys(keys),
        domains=_keyed(keys, "domain:") | ({own_site.domain} if own_site else set()),
        site=own_site,
        city=names.city_key(city),
        countries=set(countries),
        kind=kind,
        form=form,
        formality=formality,
    )


def community_of_listing(data: CommunityData, keys: list[str], source_id: str) -> CommunityProfile:
    localized = data.name.model_dump(exclude_none=True)
    return _community(
        None,
        {source_id},
        _name_forms(localized, data.aliases),
        keys,
        data.website,
        data.city,
        data.countries,
        data.kind.value,
        data.form.value,
        data.form.formality.value,
    )


COMMUNITY_PROJECTION = {
    "name": 1,
    "aliases": 1,
    "match_keys": 1,
    "sources.source_id": 1,
    "website": 1,
    "city": 1,
    "countries": 1,
    "kind": 1,
    "form": 1,
    "formality": 1,
    "member_of": 1,
}


def community_of_doc(doc: Mapping[str, Any]) -> CommunityProfile:
    profile = _community(
        doc["_id"],
        {s["source_id"] for s in doc.get("sources", [])},
        _name_forms(doc.get("name"), doc.get("aliases") or []),
        doc.get("match_keys") or [],
        doc.get("website"),
        doc.get("city"),
        doc.get("countries") or [],
        doc.get("kind", ""),
        doc.get("form", ""),
        doc.get("formality", ""),
    )
    profile.member_of = set(doc.get("member_of") or [])
    return profile


@dataclass
class EventProfile:
    entity_id: ObjectId | None
    sources: set[str]
    forms: list[names.NameForms]
    starts_at: datetime
    online: bool
    city: str | None
    venue: str | None
    url: str | None
    identifiers: dict[str, set[str]]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_of_listing(data: EventData, keys: list[str], source_id: str) -> EventProfile:
    venue = data.venue
    return EventProfile(
        entity_id=None,
        sources={source_id},
        forms=_name_forms(data.title.model_dump(exclude_none=True), []),
        starts_at=_utc(data.starts_at),
        online=data.attendance_mode.value == "online",
        city=names.city_key(venue.city if venue else None),
        venue=venue.name if venue else None,
        url=data.url,
        identifiers=hard_keys(keys),
    )


EVENT_PROJECTION = {
    "title": 1,
    "match_keys": 1,
    "sources.source_id": 1,
    "starts_at": 1,
    "attendance_mode": 1,
    "venue": 1,
    "url": 1,
}


def event_of_doc(doc: Mapping[str, Any]) -> EventProfile:
    venue = doc.get("venue") or {}
    return EventProfile(
        entity_id=doc["_id"],
        sources={s["source_id"] for s in doc.get("sources", [])},
        forms=_name_forms(doc.get("title"), []),
        starts_at=_utc(doc["starts_at"]),
        online=doc.get("attendance_mode") == "online",
        city=names.city_key(venue.get("city")),
        venue=venue.get("name"),
        url=doc.get("url"),
        identifiers=hard_keys(doc.get("match_keys") or []),
    )
