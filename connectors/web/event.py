"""schema.org `Event` (and its subtypes) -> an EventData payload.

The pieces (`event_when`, `where`, `event_status`, ...) are separate so that other
connectors can reuse them on a JSON-LD event embedded elsewhere (an RSS item).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.framework.errors import SkippableRecord
from connectors.framework.place_text import read_place
from connectors.web.config import JsonLdPagesConfig
from connectors.web.iso_dates import When, parse_moment, when
from connectors.web.values import (
    Left,
    Node,
    Page,
    as_list,
    clip,
    localized,
    number,
    read_country,
    text,
    texts,
)
from schema.dates import not_a_date_time
from schema.taxonomy import AttendanceMode, EventFormat, EventStatus

# The most specific type decides: a page typing ["Event", "Hackathon"] means a hackathon.
FORMAT_BY_TYPE: dict[str, EventFormat] = {
    "Hackathon": EventFormat.HACKATHON,
    "EducationEvent": EventFormat.EDUCATIONAL,
    "CourseInstance": EventFormat.EDUCATIONAL,
    "BusinessEvent": EventFormat.CONFERENCE,
    "ExhibitionEvent": EventFormat.CONFERENCE,
    "SocialEvent": EventFormat.SOCIAL,
    "Festival": EventFormat.SOCIAL,
    "FoodEvent": EventFormat.SOCIAL,
    "MusicEvent": EventFormat.SOCIAL,
    "ComedyEvent": EventFormat.SOCIAL,
    "DanceEvent": EventFormat.SOCIAL,
    "TheaterEvent": EventFormat.SOCIAL,
    "ScreeningEvent": EventFormat.SOCIAL,
    "SportsEvent": EventFormat.SOCIAL,
    "ChildrensEvent": EventFormat.SOCIAL,
    "LiteraryEvent": EventFormat.SOCIAL,
    "VisualArtsEvent": EventFormat.SOCIAL,
}
# Event types without a format of their own: the source's default_format applies.
GENERIC_EVENT_TYPES = frozenset(
    {
        "Event",
        "EventSeries",
        "PublicationEvent",
        "BroadcastEvent",
        "OnDemandEvent",
        "SaleEvent",
        "DeliveryEvent",
    }
)
EVENT_TYPES = GENERIC_EVENT_TYPES | FORMAT_BY_TYPE.keys()

STATUS_BY_TERM: dict[str, EventStatus] = {
    "EventScheduled": EventStatus.SCHEDULED,
    # A rescheduled event carries its new dates: it is on, at those dates.
    "EventRescheduled": EventStatus.SCHEDULED,
    "EventCancelled": EventStatus.CANCELLED,
    "EventPostponed": EventStatus.POSTPONED,
    "EventMovedOnline": EventStatus.MOVED_ONLINE,
}
MODE_BY_TERM: dict[str, AttendanceMode] = {
    "OfflineEventAttendanceMode": AttendanceMode.OFFLINE,
    "OnlineEventAttendanceMode": AttendanceMode.ONLINE,
    "MixedEventAttendanceMode": AttendanceMode.MIXED,
}
_LANGUAGE_CODE = re.compile(r"^([a-z]{2})(?:[-_][A-Za-z0-9]+)*$")
_SHORT = 300  # schema.models.ShortText
_TAG = 60


def is_event(page: Page, node: Node, extra_types: Iterable[str] = ()) -> bool:
    known = EVENT_TYPES | set(extra_types)
    return any(t in known for t in page.types(node))


def event_format(
    types: list[str], default: EventFormat, overrides: Mapping[str, EventFormat]
) -> EventFormat:
    for table in (overrides, FORMAT_BY_TYPE):
        for type_name in types:
            if type_name in table:
                return table[type_name]
    return default


def event_when(node: Node, default_timezone: str, venue: Mapping[str, Any] | None = None) -> When:
    start = text(node.get("startDate"))
    if start is None:
        raise SkippableRecord("the event has no startDate")
    end = text(node.get("endDate"))
    return when(
        _moment("startDate", start),
        _moment("endDate", end) if end else None,
        default_timezone,
        venue,
    )


def _moment(name: str, value: str) -> datetime | date:
    try:
        return parse_moment(value)
    except ValueError:
        raise SkippableRecord(f"{name}: {not_a_date_time(value)}") from None


@dataclass(frozen=True)
class Where:
    venue: dict[str, Any] | None = None
    online_url: str | None = None
    left: tuple[Left, ...] = ()  # values left out, for the stream's warnings


def _text_place(line: str) -> dict[str, Any]:
    """City and country of a place written as one line ("Novosibirsk, Russia")."""
    place = read_place(line)
    return {"city": place.city, "country": place.country}


def _venue(page: Page, place: Node, left: list[Left]) -> dict[str, Any] | None:
    is_address = "PostalAddress" in page.types(place)
    address = place if is_address else page.resolve(place.get("address"))
    venue: dict[str, Any] = {}
    if not is_address and (name := text(place.get("name"))):
        venue["name"] = clip(name, _SHORT)
    if isinstance(address, Mapping):
        street = text(address.get("streetAddress"))
        city = text(address.get("addressLocality"))
        country, unknown = read_country(page.resolve(address.get("addressCountry")))
        if unknown is not None:
            left.append(("venue.country", unknown, f"{unknown!r} names no country we know"))
        venue |= {"address": street, "city": city, "country": country}
    elif (line := text(address)) is not None:
        venue |= {"address": line, **_text_place(line)}
    geo = page.resolve(place.get("geo"))
    point = geo if isinstance(geo, Mapping) else place
    lat, lon = number(point.get("latitude")), number(point.get("longitude"))
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        venue["location"] = {"lat": lat, "lon": lon}
    cleaned = {k: clip(v, _SHORT) if isinstance(v, str) else v for k, v in venue.items() if v}
    return cleaned or None


def where(page: Page, node: Node) -> Where:
    """The venue and the online URL from `location` (Place, PostalAddress, text, virtual)."""
    venue, online = None, None
    left: list[Left] = []
    for item in as_list(node.get("location")):
        location = page.resolve(item)
        if isinstance(location, Mapping):
            if "VirtualLocation" in page.types(location):
                online = online or page.url_of(location.get("url"))
            else:
                venue = venue or _venue(page, location, left)
        elif isinstance(location, str) and location.strip():
            # A bare URL is where to join online; other text names the place.
            if "://" in location:
                online = online or page.url_of(location)
            elif venue is None:
                line = clip(location.strip(), _SHORT)
                found = {"name": line, **_text_place(line)}
                venue = {k: v for k, v in found.items() if v}
    return Where(venue, online, tuple(left))


def event_status(page: Page, node: Node) -> EventStatus:
    term = page.term(node.get("eventStatus"))
    return STATUS_BY_TERM.get(term or "", EventStatus.SCHEDULED)


def attendance_mode(
    page: Page, node: Node, place: Where, default: AttendanceMode | None
) -> AttendanceMode | None:
    term = page.term(node.get("eventAttendanceMode"))
    if term in MODE_BY_TERM:
        mode = MODE_BY_TERM[term]
        # "Offline" without a location says how, not where: the place is unknown.
        if mode is AttendanceMode.OFFLINE and not place.venue:
            return AttendanceMode.UNKNOWN
        return mode
    # Not said: the locations given tell it.
    if place.venue and place.online_url:
        return AttendanceMode.MIXED
    if place.online_url or event_status(page, node) is EventStatus.MOVED_ONLINE:
        return AttendanceMode.ONLINE
    if place.venue:
        return AttendanceMode.OFFLINE
    return default


def _is_free(value: Any) -> bool | None:
    value = value[0] if isinstance(value, list) and value else value
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def pricing(page: Page, node: Node) -> dict[str, Any]:
    """`price` (the lowest) and `is_free` from `offers` and `isAccessibleForFree`."""
    prices: list[tuple[float, str | None]] = []
    for item in as_list(node.get("offers")):
        offer = page.resolve(item)
        if not isinstance(offer, Mapping):
            continue
        spec = page.resolve(offer.get("priceSpecification"))
        for source in (offer, spec if isinstance(spec, Mapping) else {}):
            amount = number(source.get("price", source.get("lowPrice")))
            if amount is not None and amount >= 0:
                prices.append((amount, text(source.get("priceCurrency"))))
    free = _is_free(node.get("isAccessibleForFree"))
    if free is None and prices:
        free = all(amount == 0 for amount, _ in prices)
    found: dict[str, Any] = {"is_free": free} if free is not None else {}
    paid = sorted(
        (amount, currency.upper())
        for amount, currency in prices
        if amount > 0 and currency and re.fullmatch(r"[A-Za-z]{3}", currency)
    )
    if paid and not free:
        found["price"] = {"amount": paid[0][0], "currency": paid[0][1]}
    return found


def organizer_refs(page: Page, node: Node) -> list[str]:
    """External ids of organizing organizations (people are not communities)."""
    refs: list[str] = []
    for item in as_list(node.get("organizer")):
        organizer = page.resolve(item)
        if not isinstance(organizer, Mapping) or "Person" in page.types(organizer):
            continue
        ref = page.reference(organizer)
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def languages(node: Node) -> list[str]:
    found: list[str] = []
    for item in as_list(node.get("inLanguage")):
        if isinstance(item, Mapping):  # a `Language` node: the code is its alternateName
            item = text(item.get("alternateName")) or text(item.get("name"))
        matched = _LANGUAGE_CODE.match(item.strip().lower()) if isinstance(item, str) else None
        if matched and matched.group(1) not in found:
            found.append(matched.group(1))
    return found


def keywords(node: Node) -> list[str]:
    found: list[str] = []
    for item in texts(node.get("keywords")):
        for word in item.split(","):
            word = clip(word.strip(), _TAG)
            if word and word not in found:
                found.append(word)
    return found[:50]


def known_place(mode: AttendanceMode | None, venue: Mapping[str, Any] | None) -> AttendanceMode:
    """The mode to store: an offline event whose venue is not given, or one that says
    nothing of where, has its place unknown rather than rejected or invented."""
    if mode is None or (mode is AttendanceMode.OFFLINE and not venue):
        return AttendanceMode.UNKNOWN
    return mode


def event_payload(
    page: Page, node: Node, config: JsonLdPagesConfig, left: list[Left] | None = None
) -> dict[str, Any]:
    """The payload, or SkippableRecord with a reason when a required part is missing;
    values left out of it (a country no one knows) are added to `left`."""
    title = localized(node.get("name"), config.language.value, limit=_SHORT)
    if title is None:
        raise SkippableRecord("the event has no name")
    place = where(page, node)
    if left is not None:
        left.extend(place.left)
    mode = known_place(
        attendance_mode(page, node, place, config.default_attendance_mode), place.venue
    )
    organizers = organizer_refs(page, node)
    organizers += [ref for ref in config.organizers if ref not in organizers]
    payload: dict[str, Any] = {
        "title": title,
        "description": localized(node.get("description"), config.language.value),
        "format": event_format(
            page.types(node), config.default_format, config.format_by_type
        ).value,
        **event_when(node, config.default_timezone, place.venue).payload(),
        "attendance_mode": mode.value,
        "venue": place.venue,
        "online_url": place.online_url,
        "status": event_status(page, node).value,
        "organizers": organizers,
        "url": page.url_of(node.get("url")),
        **pricing(page, node),
        "languages": languages(node),
        "tags": keywords(node),
    }
    return {key: value for key, value in payload.items() if value not in (None, [], {})}
