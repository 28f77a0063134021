"""Turn validated listing data into entity document fields.

A stored entity holds what its listing says, normalized (localized texts, GeoJSON
points, deduplicated codes, resolved references), and nothing derived only for
reads: the read model computes sort keys, filter values and search terms from
these fields (service.read_model.rows). The helpers both sides need to agree on
(city keys, standard code keys, website domains) live here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import overload
from urllib.parse import urlsplit

from bson import ObjectId

from schema.documents import (
    ChannelDoc,
    CommunityFields,
    EventFields,
    GeoJSONPoint,
    IdentifierDoc,
    LocalizedDoc,
    MoneyDoc,
    StandardFields,
    VenueDoc,
)
from schema.models import (
    Channel,
    CommunityData,
    EventData,
    GeoPoint,
    Identifier,
    LocalizedText,
    Money,
    StandardData,
    Venue,
)
from schema.taxonomy import EventStatus
from schema.zones import zone
from service.documents import search_text as text

Refs = Mapping[str, ObjectId]

LIVE_EVENT_STATUSES = (
    EventStatus.SCHEDULED.value,
    EventStatus.POSTPONED.value,
    EventStatus.MOVED_ONLINE.value,
)


@overload
def localized(value: LocalizedText) -> LocalizedDoc: ...
@overload
def localized(value: LocalizedText | None) -> LocalizedDoc | None: ...
def localized(value: LocalizedText | None) -> LocalizedDoc | None:
    if value is None:
        return None
    doc: LocalizedDoc = {}
    if value.ru:
        doc["ru"] = value.ru
    if value.en:
        doc["en"] = value.en
    return doc


@overload
def geojson(point: GeoPoint) -> GeoJSONPoint: ...
@overload
def geojson(point: GeoPoint | None) -> GeoJSONPoint | None: ...
def geojson(point: GeoPoint | None) -> GeoJSONPoint | None:
    return {"type": "Point", "coordinates": [point.lon, point.lat]} if point else None


def website_domain(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def city_key(city: str | None) -> str | None:
    return " ".join(text.words(city)) if city else None


_CODE_SEPARATORS = re.compile(r"[^a-z0-9.]+")


def standard_code_key(code: str) -> str:
    """One key for one standard however it is written: "ГОСТ Р 1.0-2012" = "GOST R 1.0-2012"."""
    latin = text.transliterate(code.lower().replace("ё", "е"))
    return _CODE_SEPARATORS.sub("-", latin).strip("-")


def display_name(name: LocalizedText) -> str:
    return name.en or name.ru or ""


def _resolve(refs: Refs, external_ids: list[str]) -> list[ObjectId]:
    return [refs[e] for e in dict.fromkeys(external_ids) if e in refs]


def channel(value: Channel) -> ChannelDoc:
    doc: ChannelDoc = {"type": value.type.value, "url": value.url}
    if value.label is not None:
        doc["label"] = value.label
    return doc


def identifier(value: Identifier) -> IdentifierDoc:
    return {"scheme": value.scheme, "value": value.value}


def venue_doc(venue: Venue) -> VenueDoc:
    """The parts of the venue that are given; its point as GeoJSON."""
    doc: VenueDoc = {}
    if venue.name is not None:
        doc["name"] = venue.name
    if venue.address is not None:
        doc["address"] = venue.address
    if venue.city is not None:
        doc["city"] = venue.city
    if venue.country is not None:
        doc["country"] = venue.country
    if venue.location is not None:
        doc["location"] = geojson(venue.location)
    return doc


def money(value: Money) -> MoneyDoc:
    return {"amount": value.amount, "currency": value.currency}


def community_fields(data: CommunityData, refs: Refs) -> CommunityFields:
    return {
        "name": localized(data.name),
        "description": localized(data.description),
        "aliases": list(data.aliases),
        "kind": data.kind.value,
        "form": data.form.value,
        "formality": data.form.formality.value,
        "industries": list(dict.fromkeys(data.industries)),
        "countries": list(dict.fromkeys(data.countries)),
        "region": data.region,
        "city": data.city,
        "location": geojson(data.location),
        "website": data.website,
        "channels": [channel(c) for c in data.channels],
        "founded_year": data.founded_year,
        "member_count": data.member_count,
        "offers": [o.value for o in dict.fromkeys(data.offers)],
        "tags": list(dict.fromkeys(t.lower() for t in data.tags)),
        "identifiers": [identifier(i) for i in data.identifiers],
        "member_of": _resolve(refs, data.member_of),
        "partners": _resolve(refs, data.partners),
        "status": data.status.value,
    }


def event_fields(data: EventData, refs: Refs) -> EventFields:
    venue = data.venue
    return {
        "title": localized(data.title),
        "description": localized(data.description),
        "format": data.format.value,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "timezone": data.timezone,
        "all_day": data.all_day,
        "attendance_mode": data.attendance_mode.value,
        "venue": venue_doc(venue) if venue is not None else None,
        "online_url": data.online_url,
        "status": data.status.value,
        "organizers": _resolve(refs, data.organizers),
        "url": data.url,
        "price": money(data.price) if data.price else None,
        "is_free": data.is_free,
        "languages": list(dict.fromkeys(data.languages)),
        "tags": list(dict.fromkeys(t.lower() for t in data.tags)),
    }


def standard_fields(data: StandardData, refs: Refs) -> StandardFields:
    return {
        "code": data.code,
        "title": localized(data.title),
        "description": localized(data.description),
        "kind": data.kind.value,
        "status": data.status.value,
        "version": data.version,
        "issuer": refs.get(data.issuer) if data.issuer else None,
        "adopters": _resolve(refs, data.adopters),
        "industries": list(dict.fromkeys(data.industries)),
        "url": data.url,
    }


def references(data: CommunityData | EventData | StandardData) -> list[str]:
    """External ids (same source) of the communities this record points at."""
    if isinstance(data, CommunityData):
        return [*data.member_of, *data.partners]
    if isinstance(data, EventData):
        return list(data.organizers)
    return [*([data.issuer] if data.issuer else []), *data.adopters]


def slug_base(data: CommunityData | EventData | StandardData) -> str:
    if isinstance(data, CommunityData):
        return text.slugify(display_name(data.name))
    if isinstance(data, EventData):
        local = data.starts_at.astimezone(zone(data.timezone))
        return text.slugify(f"{display_name(data.title)} {local:%Y-%m-%d}")
    return text.slugify(data.code)
