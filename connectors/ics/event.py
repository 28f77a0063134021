"""One VEVENT (or one expanded occurrence of it) -> an `Occurrence`: the raw record.

Reading is tolerant per property: a value that does not parse (`GEO:NA`), or a
placeholder where a value should be (`STATUS:NA`, `LOCATION:NA`), is dropped and
noted, and the event goes on. Only what an event cannot exist without (UID,
DTSTART, SUMMARY) makes it unusable: `SkippableRecord`, which becomes `Rejected`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from connectors.framework.errors import SkippableRecord
from connectors.ics.zones import zone_name
from schema.dates import not_a_date_time

PLACEHOLDERS = frozenset({"", "na", "n/a", "n.a.", "none", "null", "nil", "-", "tba", "tbd"})
STATUSES = frozenset({"TENTATIVE", "CONFIRMED", "CANCELLED"})
MAX_TEXT = 10_000  # schema.models.LongText
MAX_UID = 170  # leaves room for "@" + a recurrence id within ExternalId's 200
DATE_TIME_PROPERTIES = frozenset(
    {
        "DTSTART",
        "DTEND",
        "DUE",
        "RECURRENCE-ID",
        "RDATE",
        "EXDATE",
        "DTSTAMP",
        "CREATED",
        "LAST-MODIFIED",
    }
)
ICS_FORMS = "iCalendar writes them as 20261210T190000Z, 20261210T190000 or 20261210"
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S", re.IGNORECASE)
_HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Occurrence:
    """What one occurrence of a feed event says, before mapping to EventData."""

    uid: str
    recurrence_id: str | None  # UTC ISO (or a date) for a series member; None if single
    title: str
    description: str | None
    starts_at: datetime  # aware
    ends_at: datetime | None
    timezone: str  # IANA
    all_day: bool
    cancelled: bool
    location: str | None
    geo: tuple[float, float] | None
    url: str | None
    categories: tuple[str, ...]
    meeting_links: tuple[str, ...]  # CONFERENCE and X-...MEETING... URLs
    attendance_hint: str | None  # "online" | "mixed" | "offline" from X-...ATTENDANCE...
    sequence: int  # SEQUENCE and LAST-MODIFIED: for change detection (fingerprint)
    last_modified: str | None
    notes: tuple[str, ...]  # properties ignored, with why

    @property
    def external_id(self) -> str:
        return external_id(self.uid, self.recurrence_id)


def external_id(uid: str, recurrence_id: str | None) -> str:
    # A UID too long for an external id is replaced by its digest: stable, unique.
    base = uid if len(uid) <= MAX_UID else "sha256:" + hashlib.sha256(uid.encode()).hexdigest()
    return base if recurrence_id is None else f"{base}@{recurrence_id}"


def recurrence_key(value: date) -> str:
    """A RECURRENCE-ID as text: UTC ISO for a date-time, ISO date for a date."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def read_uid(event: icalendar.Event) -> str:
    uid = _text(event, "UID", [])
    if uid is None:
        raise SkippableRecord("VEVENT has no UID: it cannot be told apart across syncs")
    return uid


def property_notes(event: icalendar.Event) -> list[str]:
    """What icalendar could not parse in this VEVENT (the property is ignored); a date
    in plain words, as icalendar's own are its parser's ("Wrong date format x")."""
    return [
        f"{name} ignored: {not_a_date_time(_written(event, name), ICS_FORMS)}"
        if name in DATE_TIME_PROPERTIES
        else f"{name or 'a line'} ignored: {message}"
        for name, message in event.errors
    ]


def _written(event: icalendar.Event, name: str) -> str:
    """A property's value as the feed wrote it (the first, if repeated)."""
    return str(_first(event.get(name, "")))


@dataclass(frozen=True)
class ReadContext:
    """Per-feed settings the reader needs."""

    feed_zone: ZoneInfo  # all-day events start at midnight here; UTC times display here
    notes: tuple[str, ...] = ()  # notes of the VEVENT this occurrence comes from


def read_occurrence(
    event: icalendar.Event, uid: str, recurrence_id: str | None, context: ReadContext
) -> Occurrence:
    notes = list(context.notes)
    title = _text(event, "SUMMARY", notes)
    if title is None:
        raise SkippableRecord("VEVENT has no SUMMARY (title)", external_id=uid)
    starts_at, ends_at, all_day, zone = _times(event, uid, context.feed_zone, notes)
    status = (_text(event, "STATUS", notes) or "").upper()
    if status and status not in STATUSES:
        notes.append(f"STATUS {status!r} ignored: not TENTATIVE, CONFIRMED or CANCELLED")
    _check_organizer(event, notes)
    return Occurrence(
        uid=uid,
        recurrence_id=recurrence_id,
        title=_clip(title, "SUMMARY", notes),
        description=_description(event, notes),
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=zone,
        all_day=all_day,
        cancelled=status == "CANCELLED",
        location=_text(event, "LOCATION", notes),
        geo=_geo(event, notes),
        url=_url(event, notes),
        categories=tuple(_categories(event)),
        meeting_links=tuple(dict.fromkeys(_meeting_links(event))),
        attendance_hint=_attendance_hint(event),
        sequence=read_sequence(event, notes),
        last_modified=read_last_modified(event),
        notes=tuple(dict.fromkeys(notes)),
    )


def _times(
    event: icalendar.Event, uid: str, feed_zone: ZoneInfo, notes: list[str]
) -> tuple[datetime, datetime | None, bool, str]:
    start = date_value(event, "DTSTART")
    if start is None:
        reason = (
            f"DTSTART: {not_a_date_time(_written(event, 'DTSTART'), ICS_FORMS)}"
            if "DTSTART" in event
            else "VEVENT has no DTSTART"
        )
        raise SkippableRecord(reason, external_id=uid)
    all_day = not isinstance(start, datetime)
    starts_at = _as_datetime(start, feed_zone)
    end = date_value(event, "DTEND")
    duration = _duration(event)
    ends_at: datetime | None
    if end is not None:
        ends_at = _as_datetime(end, feed_zone)
    elif duration is not None:
        ends_at = starts_at + duration
    else:
        # RFC 5545 3.6.1: a date start without an end lasts that one day.
        ends_at = starts_at + timedelta(days=1) if all_day else None
    if ends_at is not None and ends_at < starts_at:
        notes.append("DTEND ignored: before DTSTART")
        ends_at = None
    zone = feed_zone.key if all_day else zone_name(starts_at, feed_zone.key)
    return starts_at, ends_at, all_day, zone


def _as_datetime(value: date, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return datetime.combine(value, time(), tzinfo=zone)


def date_value(event: icalendar.Event, name: str) -> date | None:
    prop = _first(event.get(name))
    if prop is None or isinstance(prop, icalendar.prop.vBroken):
        return None
    value = getattr(prop, "dt", None)
    return value if isinstance(value, date) else None


def _duration(event: icalendar.Event) -> timedelta | None:
    prop = _first(event.get("DURATION"))
    value = getattr(prop, "dt", None) if not isinstance(prop, icalendar.prop.vBroken) else None
    return value if isinstance(value, timedelta) and value >= timedelta(0) else None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(event: icalendar.Event, name: str, notes: list[str]) -> str | None:
    value = _first(event.get(name))
    if value is None or isinstance(value, icalendar.prop.vBroken):
        return None
    text = str(value).strip()
    if text.lower() in PLACEHOLDERS:
        if text:
            notes.append(f"{name} {text!r} ignored: a placeholder, not a value")
        return None
    return text


def _clip(text: str, name: str, notes: list[str]) -> str:
    if len(text) <= MAX_TEXT:
        return text
    notes.append(f"{name} cut to {MAX_TEXT} characters")
    return text[:MAX_TEXT]


def _description(event: icalendar.Event, notes: list[str]) -> str | None:
    text = _text(event, "DESCRIPTION", notes)
    return _clip(text, "DESCRIPTION", notes) if text else None


def _geo(event: icalendar.Event, notes: list[str]) -> tuple[float, float] | None:
    value = _first(event.get("GEO"))
    if value is None or isinstance(value, icalendar.prop.vBroken):
        return None  # a broken GEO is already in the notes, from the parser's errors
    lat, lon = float(value.latitude), float(value.longitude)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        notes.append(f"GEO {lat};{lon} ignored: out of range")
        return None
    return lat, lon


def _url(event: icalendar.Event, notes: list[str]) -> str | None:
    text = _text(event, "URL", notes)
    if text is None or _HTTP_URL.match(text):
        return text
    notes.append(f"URL {text[:80]!r} ignored: not an absolute http(s) URL")
    return None


def _check_organizer(event: icalendar.Event, notes: list[str]) -> None:
    # Organizers of a listing are the configured communities, not this address;
    # a malformed one is still noted, as the feed's quality is worth seeing.
    value = _first(event.get("ORGANIZER"))
    if value is not None and not _URI.match(str(value).strip()):
        notes.append(f"ORGANIZER {str(value)[:80]!r} ignored: not a calendar address")


def _categories(event: icalendar.Event) -> Iterator[str]:
    values = event.get("CATEGORIES")
    for prop in values if isinstance(values, list) else [values]:
        for category in getattr(prop, "cats", None) or []:
            text = str(category).strip()
            if text.lower() not in PLACEHOLDERS:
                yield text


def _is_meeting_property(name: str) -> bool:
    # RFC 7986 CONFERENCE, Outlook's X-MICROSOFT-SKYPETEAMSMEETINGURL and
    # X-MICROSOFT-ONLINEMEETINGCONFURL, Google's X-GOOGLE-CONFERENCE, and the like.
    upper = name.upper()
    return upper == "CONFERENCE" or (
        upper.startswith("X-") and ("MEETING" in upper or "CONFERENCE" in upper)
    )


def _is_place_property(name: str) -> bool:
    upper = name.upper()
    return (
        upper in ("LOCATION", "GEO", "URL")
        or _is_meeting_property(name)
        or (upper.startswith("X-") and "ATTENDANCE" in upper)
    )


def inherit_place(override: icalendar.Event, master: icalendar.Event) -> bool:
    """Give an override that says nothing about where its series' place; True if it did.

    Exporters write a cancelled instance as little more than its RECURRENCE-ID and
    STATUS; without this, the cancellation could not be listed (no venue, no link).
    """
    if any(_is_place_property(name) for name in override):
        return False
    for name, value in master.items():
        if _is_place_property(name):
            override[name] = value
    return True


def _meeting_links(event: icalendar.Event) -> Iterator[str]:
    for name, values in event.items():
        if not _is_meeting_property(name):
            continue
        for value in values if isinstance(values, list) else [values]:
            text = str(value).strip()
            if _HTTP_URL.match(text):
                yield text


def _attendance_hint(event: icalendar.Event) -> str | None:
    for name, value in event.items():
        if name.upper().startswith("X-") and "ATTENDANCE" in name.upper():
            text = str(_first(value)).lower()  # also schema.org's OnlineEventAttendanceMode
            for hint in ("mixed", "hybrid", "online", "offline"):
                if hint in text:
                    return "mixed" if hint == "hybrid" else hint
    return None


def read_sequence(event: icalendar.Event, notes: list[str]) -> int:
    value = _first(event.get("SEQUENCE"))
    if value is None or isinstance(value, icalendar.prop.vBroken):
        return 0  # a broken one is already in the notes, from the parser's errors
    try:
        return int(value)
    except (TypeError, ValueError):
        notes.append(f"SEQUENCE {str(value)[:20]!r} ignored: not a number")
        return 0


def read_last_modified(event: icalendar.Event) -> str | None:
    value = date_value(event, "LAST-MODIFIED")
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
