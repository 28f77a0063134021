"""TZID -> time zone, per feed; and rewriting a parsed event's times into those zones.

Order of trust for a TZID:
1. an IANA name (`Europe/Moscow`), also inside a "globally unique" path
   (`/mozilla.org/20050126_1/Europe/Moscow`);
2. a Windows/Outlook name (`Russian Standard Time`) via the CLDR table icalendar ships;
3. the feed's own VTIMEZONE with that TZID (its `X-LIC-LOCATION` if that is IANA);
4. the feed's default zone.
IANA wins over a VTIMEZONE of the same name because the tz database knows the
history of rule changes that a VTIMEZONE written once by an exporter does not.
Steps 3 and 4 are reported once per TZID; they never fail an event.

icalendar resolves TZIDs itself, through a process-wide cache of the VTIMEZONEs it
has parsed; whatever zone it attached is replaced here, keeping the wall-clock
time, so two feeds using the same made-up TZID ("Customized Time Zone") with
different rules stay independent. (Parsing such a VTIMEZONE still leaves one entry
per TZID in that cache: icalendar offers no way not to.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

DATE_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE")


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_iana(name: str) -> bool:
    # A set lookup rather than ZoneInfo(name): that raises IsADirectoryError for "Europe".
    return name in _iana_names()


def iana_zone(name: str) -> ZoneInfo | None:
    """The IANA zone a TZID names directly, by Windows name, or by path suffix."""
    cleaned = name.strip().strip('"').strip("/")
    if cleaned in _iana_names():
        return ZoneInfo(cleaned)
    if cleaned in WINDOWS_TO_OLSON:
        return ZoneInfo(WINDOWS_TO_OLSON[cleaned])
    parts = cleaned.split("/")
    for start in range(1, len(parts)):
        candidate = "/".join(parts[start:])
        if candidate in _iana_names():
            return ZoneInfo(candidate)
    return None


def zone_name(moment: datetime, fallback: str) -> str:
    """An IANA name for the zone of `moment`, for display of local times."""
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        return fallback if zone.key == "UTC" else zone.key
    if zone is UTC or zone is None:
        return fallback
    # A zone built from a VTIMEZONE has no IANA name; a fixed Etc/GMT zone with
    # the same offset shows this occurrence's local time correctly.
    offset = moment.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest or not -12 <= hours <= 14:
        return "UTC"
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


class ZoneResolver:
    """The zones of one feed: IANA and Windows names, its VTIMEZONEs, its default."""

    def __init__(self, default: ZoneInfo) -> None:
        self.default = default
        self._definitions: dict[str, str] = {}  # TZID -> VTIMEZONE text, parsed on demand
        self._resolved: dict[str, tzinfo] = {}
        self.notes: list[str] = []  # one per TZID that needed a fallback

    def define(self, tzid: str, text: str) -> None:
        self._definitions.setdefault(tzid, text)

    def knows(self, tzid: str) -> bool:
        """Whether `tzid` resolves without the default (else a VTIMEZONE may follow)."""
        return tzid in self._resolved or tzid in self._definitions or bool(iana_zone(tzid))

    def zone(self, tzid: str) -> tzinfo:
        found = self._resolved.get(tzid)
        if found is None:
            found = self._resolve(tzid)
            self._resolved[tzid] = found
        return found

    def _resolve(self, tzid: str) -> tzinfo:
        zone = iana_zone(tzid)
        if zone is not None:
            return zone
        text = self._definitions.get(tzid)
        if text is not None:
            defined = self._from_definition(tzid, text)
            if defined is not None:
                return defined
        self.notes.append(f"unknown TZID {tzid!r}: times read in {self.default.key}")
        return self.default

    def _from_definition(self, tzid: str, text: str) -> tzinfo | None:
        try:
            component = icalendar.Timezone.from_ical(text)
            if not isinstance(component, icalendar.Timezone):
                raise TypeError("not a VTIMEZONE")
            location = component.get("X-LIC-LOCATION")
            named = iana_zone(str(location)) if location else None
            if named is not None:
                self.notes.append(f"TZID {tzid!r}: read as {named.key} (X-LIC-LOCATION)")
                return named
            built: tzinfo = component.to_tz(lookup_tzid=False)
        except (ValueError, TypeError, KeyError) as error:
            self.notes.append(f"VTIMEZONE {tzid!r} unreadable ({error})")
            return None
        self.notes.append(f"TZID {tzid!r}: not a known zone, used the feed's VTIMEZONE")
        return built

    def rezone(self, event: icalendar.Event, floating: tzinfo, utc_zone: tzinfo | None) -> None:
        """Put every date-time of `event` in its resolved zone, keeping wall-clock times.

        Floating times go to `floating`. UTC times go to `utc_zone` if the feed declares
        one (X-WR-TIMEZONE): the same instants, but a weekly rule then follows local
        time across DST changes, as the exporter (Google) meant.
        """
        for name in DATE_PROPERTIES:
            values = event.get(name)
            for prop in values if isinstance(values, list) else [values]:
                if prop is None or isinstance(prop, icalendar.prop.vBroken):
                    continue
                tzid = prop.params.get("TZID")
                zone = self.zone(tzid) if tzid else None
                for item in getattr(prop, "dts", None) or [prop]:
                    item.dt = _in_zone(item.dt, zone, floating, utc_zone)


def _in_zone(
    value: object, zone: tzinfo | None, floating: tzinfo, utc_zone: tzinfo | None
) -> object:
    if isinstance(value, tuple):  # an RDATE period: (start, end or duration)
        return tuple(_in_zone(part, zone, floating, utc_zone) for part in value)
    if not isinstance(value, datetime):
        return value  # a date or a duration
    if zone is not None:
        return value.replace(tzinfo=zone)
    if value.tzinfo is None:
        return value.replace(tzinfo=floating)
    return value.astimezone(utc_zone) if utc_zone is not None else value
