"""An `Occurrence` -> an event `Listing` (or `Rejected`): venue, attendance, format.

Attendance, from the strongest signal down:
- a meeting link (CONFERENCE, X-...MEETING... URLs, a meeting host in LOCATION or
  URL) or a LOCATION that only says "Online event" / "Hybrid" means online/mixed;
- a LOCATION that is a place (or, failing that, GEO) is a venue: offline, or
  mixed together with an online signal;
- neither: the place is unknown (`AttendanceMode.UNKNOWN`). The event is kept, with
  its status: a cancelled entry or an announcement without a place yet is still an
  event people look for, and no place is invented for it.

A meeting link is the event's online URL, never its page URL: `url` keeps only a
URL that is not a way to join. The venue's city and country come from the LOCATION
text when it says them (connectors.framework.place_text).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError

from connectors.framework.contract import Rejected
from connectors.framework.errors import SkippableRecord
from connectors.framework.place_text import read_place
from connectors.framework.reasons import validation_reason
from connectors.ics.config import IcsFeedConfig
from connectors.ics.event import Occurrence
from schema.models import EventData, Listing
from schema.taxonomy import AttendanceMode, EntityType, EventFormat, EventStatus

MEETING_HOSTS = (
    "zoom.us", "zoom.com", "teams.microsoft.com", "teams.live.com", "meet.google.com",
    "webex.com", "gotomeeting.com", "goto.com", "whereby.com", "meet.jit.si", "jitsi.org",
    "bluejeans.com", "skype.com", "discord.gg", "discord.com", "hopin.com", "streamyard.com",
    "youtube.com", "youtu.be", "twitch.tv", "telemost.yandex.ru", "ktalk.ru", "webinar.ru",
    "mts-link.ru", "pruffme.com", "crowdcast.io", "airmeet.com",
)  # fmt: skip
# LOCATION values that name no place, only a way to attend; written as _normal() makes them.
ONLINE_WORDS = frozenset({
    "online", "online event", "online meeting", "virtual", "virtual event", "webinar",
    "zoom", "ms teams", "teams", "google meet", "livestream", "live stream", "internet",
    # What Outlook, Google Calendar and Zoom write as LOCATION for a call.
    "microsoft teams meeting", "microsoft teams", "teams meeting", "zoom meeting",
    "skype meeting", "webex", "webex meeting", "google meet video call",
    "онлайн", "вебинар", "онлайн встреча", "трансляция",
})  # fmt: skip
MIXED_WORDS = frozenset({
    "hybrid", "hybrid event", "online & offline", "online and offline", "online/offline",
    "offline/online", "гибрид", "гибридный формат", "онлайн и офлайн", "офлайн и онлайн",
})  # fmt: skip
MAX_SHORT = 300  # schema.models.ShortText
MAX_TAG = 60
_URL_IN_TEXT = re.compile(r"https?://\S+", re.IGNORECASE)
_NAME_AND_ADDRESS = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<address>[^()]+)\)$")
_SEPARATORS = " \t,;|/-–—:"


@dataclass(frozen=True)
class Mapped:
    listing: Listing
    fingerprint: str  # external id + payload + SEQUENCE + LAST-MODIFIED, hashed


def to_listing(
    occurrence: Occurrence, config: IcsFeedConfig, source_id: str, fetched_at: datetime
) -> Mapped | Rejected:
    try:
        data = _event_data(occurrence, config)
    except SkippableRecord as error:
        return Rejected(error.reason, occurrence.external_id, raw_record(occurrence))
    except ValidationError as error:
        return Rejected(validation_reason(error), occurrence.external_id, raw_record(occurrence))
    payload = data.model_dump(mode="json", exclude_none=True)
    listing = Listing(
        entity=EntityType.EVENT,
        source_id=source_id,
        external_id=occurrence.external_id,
        payload=payload,
        url=data.url,
        fetched_at=fetched_at,
        # The UID (plus recurrence id) names the occurrence in every feed that carries
        # it: the same meetup exported by two groups is one event.
        match_keys=[f"ics-uid:{occurrence.external_id}"],
    )
    return Mapped(listing, fingerprint(occurrence, payload))


def fingerprint(occurrence: Occurrence, payload: dict[str, Any]) -> str:
    canonical = orjson.dumps(
        [occurrence.external_id, occurrence.sequence, occurrence.last_modified, payload],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def raw_record(occurrence: Occurrence) -> dict[str, Any]:
    """The occurrence as JSON-able data, for a rejection an admin can read."""
    record: dict[str, Any] = orjson.loads(orjson.dumps(occurrence, default=str))
    return record


def _event_data(occurrence: Occurrence, config: IcsFeedConfig) -> EventData:
    place = _Place.of(occurrence)
    language = config.language.value
    payload = {
        "title": {language: occurrence.title},
        "description": {language: occurrence.description} if occurrence.description else None,
        "format": choose_format(occurrence, config),
        "starts_at": occurrence.starts_at,
        "ends_at": occurrence.ends_at,
        "timezone": occurrence.timezone,
        "all_day": occurrence.all_day,
        "attendance_mode": place.mode,
        "venue": place.venue,
        "online_url": place.online_url,
        "status": EventStatus.CANCELLED if occurrence.cancelled else EventStatus.SCHEDULED,
        "organizers": list(config.organizers),
        # A URL that is the way to join is the online URL, not the event's page.
        "url": _page_url(occurrence.url, place.online_url),
        "languages": [language],
        "tags": _tags(occurrence.categories),
    }
    return EventData.model_validate(payload)


@dataclass(frozen=True)
class _Place:
    mode: AttendanceMode
    venue: dict[str, Any] | None
    online_url: str | None

    @classmethod
    def of(cls, occurrence: Occurrence) -> _Place:
        text, hint, location_link = _read_location(occurrence.location)
        if occurrence.attendance_hint in ("online", "mixed"):
            hint = occurrence.attendance_hint
        online_url = _online_url(occurrence, location_link)
        online = online_url is not None or hint is not None
        venue = _venue(text, occurrence.geo, online)
        if hint == "mixed" or (venue is not None and online):
            return cls(AttendanceMode.MIXED, venue, online_url)
        if online:
            return cls(AttendanceMode.ONLINE, None, online_url)
        if venue is not None:
            return cls(AttendanceMode.OFFLINE, venue, None)
        # No place and no link (a cancelled entry, an announcement without a place
        # yet): kept with its place unknown; a page URL tells nothing of where.
        return cls(AttendanceMode.UNKNOWN, None, None)


def _read_location(location: str | None) -> tuple[str | None, str | None, str | None]:
    """LOCATION -> (place text, "online"/"mixed" hint, link to join)."""
    if location is None:
        return None, None, None
    links = _URL_IN_TEXT.findall(location)
    text = _URL_IN_TEXT.sub(" ", location).strip(_SEPARATORS) or None
    link = next((u for u in links if _meeting_host(u)), None)
    if link is None and links and text is None and not _maps_link(links[0]):
        link = links[0]  # a LOCATION that is only a link is where to join
    words = _normal(text or "")
    hint = "mixed" if words in MIXED_WORDS else "online" if words in ONLINE_WORDS else None
    return (None if hint else text), hint, link


def _normal(phrase: str) -> str:
    """Case, hyphens, spacing and end punctuation aside: "Online-Event." is "online event"."""
    return " ".join(phrase.casefold().replace("-", " ").split()).strip(".!")


def _online_url(occurrence: Occurrence, location_link: str | None) -> str | None:
    if occurrence.meeting_links:
        return occurrence.meeting_links[0]
    if location_link is not None:
        return location_link
    if occurrence.url is not None and _meeting_host(occurrence.url):
        return occurrence.url
    return None


def _page_url(url: str | None, online_url: str | None) -> str | None:
    if url is None or url == online_url or _meeting_host(url):
        return None
    return url


def _meeting_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == known or host.endswith("." + known) for known in MEETING_HOSTS)


def _maps_link(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return "maps" in host or parts.path.startswith("/maps") or host.endswith("2gis.ru")


def _venue(
    text: str | None, geo: tuple[float, float] | None, online: bool
) -> dict[str, Any] | None:
    point = {"lat": geo[0], "lon": geo[1]} if geo else None
    if text is None:
        # GEO alone is a place, unless the event is online: Meetup gives an online
        # event the coordinates of its group's city.
        return {"location": point} if point and not online else None
    place = read_place(text)
    name, address = _split_place(text)
    if name is not None and name == place.city:
        name = None  # "Москва, ул. ...": the head is the city, not a venue's name
    venue = {
        "name": name,
        "address": address,
        "city": _short(place.city) if place.city else None,
        "country": place.country,
        "location": point,
    }
    return {key: value for key, value in venue.items() if value}


def _split_place(text: str) -> tuple[str | None, str | None]:
    """(name, address) from Meetup's "Name (street, city)" or "Name, street, city"."""
    text = " ".join(text.split())
    match = _NAME_AND_ADDRESS.match(text)
    if match:
        return _short(match["name"]), _short(match["address"])
    head, _, rest = text.partition(",")
    if any(ch.isdigit() for ch in head):
        return None, _short(text)  # starts with a street and number: all address
    if rest.strip():
        # The head may be a venue or a city ("Москва, ул. ..."): the address keeps it.
        return _short(head), _short(text)
    return _short(text), None  # one phrase without numbers: a place's name


def _short(text: str) -> str | None:
    text = text.strip(_SEPARATORS)
    return text[:MAX_SHORT] or None


def choose_format(occurrence: Occurrence, config: IcsFeedConfig) -> EventFormat:
    categories = {category.casefold() for category in occurrence.categories}
    text = " ".join([occurrence.title, *occurrence.categories]).casefold()
    for rule in config.format_rules:
        if categories & {category.casefold() for category in rule.categories}:
            return rule.format
        if any(_has_phrase(text, keyword.casefold()) for keyword in rule.keywords):
            return rule.format
    return config.default_format


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _tags(categories: tuple[str, ...]) -> list[str]:
    return list(_unique(category[:MAX_TAG].strip() for category in categories))[:50]


def _unique(values: Iterator[str]) -> Iterator[str]:
    seen: set[str] = set()
    for value in values:
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            yield value
