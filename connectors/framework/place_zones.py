"""Which IANA time zone a venue is in, and which zone to file an exact instant under.

A venue's coordinates name its zone (tzfpy: the timezone-boundary-builder polygons,
offline). Without coordinates, its country does when the country has one zone, or
when only one of its zones has the offset the source wrote (the tz database's own
zone.tab lists the zones of each country). `zone_for_instant` is the rule a source's
dates go through:

1. the venue's zone, when it has one (an instant in it shows the venue's local time,
   whatever offset the page wrote it with: "…T16:00:00Z" for 19:00 in Moscow);
2. the source's default zone, when it has the offset written at that instant;
3. a zone with that offset at that instant: `Etc/GMT-3` for +03:00 (the tz database
   names fixed offsets with the sign inverted), or for an offset of hours and
   minutes (+05:30, +05:45) the first zone of zone1970.tab that has it; the local
   time the source wrote is kept either way, never turned into UTC.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzfpy

from connectors.framework.countries import normal

# Instants in winter and summer of both hemispheres, to tell zones with one clock.
_PROBES = tuple(
    datetime(year, month, 15, 12, tzinfo=ZoneInfo("UTC"))
    for year in (2025, 2026)
    for month in (1, 4, 7, 10)
)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _table_rows(name: str) -> list[list[str]]:
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a dependency
        return []
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def _zones_by_country() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for row in _table_rows("zone.tab"):
        if len(row) >= 3 and _zone(row[2]) is not None:
            found.setdefault(row[0], []).append(row[2])
    return {country: tuple(zones) for country, zones in found.items()}


@functools.cache
def _all_zones() -> tuple[str, ...]:
    rows = _table_rows("zone1970.tab")
    return tuple(row[2] for row in rows if len(row) >= 3 and _zone(row[2]) is not None)


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA zone of a point, or None (the open sea, a name this tz database lacks)."""
    name = tzfpy.get_tz(lon, lat)
    return name if _zone(name) is not None else None


def _offset(zone: str, moment: datetime) -> timedelta | None:
    return moment.astimezone(ZoneInfo(zone)).utcoffset()


def venue_zone(venue: Mapping[str, Any] | None, moment: datetime | None = None) -> str | None:
    """The zone a venue (a Venue payload) is in; `moment` (aware) settles a country with
    several zones by the offset it was written with."""
    if not venue:
        return None
    point = venue.get("location")
    if isinstance(point, Mapping):
        lat, lon = point.get("lat"), point.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            found = zone_at(float(lat), float(lon))
            if found is not None:
                return found
    country = venue.get("country")
    zones = _zones_by_country().get(country, ()) if isinstance(country, str) else ()
    city = venue.get("city")
    if isinstance(city, str):
        named = [z for z in zones if normal(z.rsplit("/", 1)[-1].replace("_", " ")) == normal(city)]
        if named:
            return named[0]
    if zones and len({_rules(z) for z in zones}) == 1:
        return zones[0]  # one clock in the whole country (Germany: Berlin and Busingen)
    if moment is not None and moment.tzinfo is not None:
        # Zones with the offset the source wrote show the same local time at that
        # instant; zone.tab lists a country's main zone first.
        matching = [z for z in zones if _offset(z, moment) == moment.utcoffset()]
        return matching[0] if matching else None
    return None


def _rules(zone: str) -> tuple[timedelta | None, ...]:
    """The zone's offsets at a few instants: equal for zones that keep the same clock."""
    return tuple(_offset(zone, moment) for moment in _PROBES)


def fixed_offset_zone(moment: datetime) -> str:
    """A zone that has `moment`'s UTC offset at that instant (rule 3 above)."""
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "UTC"
    hours, rest = divmod(offset, timedelta(hours=1))
    if not rest and -12 <= hours <= 14:
        return f"Etc/GMT{-hours:+d}"
    for zone in _all_zones():
        if _offset(zone, moment) == offset:
            return zone
    return "UTC"  # an offset no zone has: the instant is still exact


def zone_for_instant(
    moment: datetime, default_timezone: str, venue: Mapping[str, Any] | None = None
) -> str:
    """The zone to file an aware `moment` under (the module docstring's rule)."""
    found = venue_zone(venue, moment)
    if found is not None:
        return found
    if _offset(default_timezone, moment) == moment.utcoffset():
        return default_timezone
    return fixed_offset_zone(moment)


def zone_for_wall_clock(default_timezone: str, venue: Mapping[str, Any] | None = None) -> str:
    """The zone a time written without an offset is read in: the venue's, else the default."""
    return venue_zone(venue) or default_timezone
