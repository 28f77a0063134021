"""Event times from ISO 8601 values, and which IANA zone to file them under.

schema.org dates carry at most a UTC offset (`2015-10-31T19:30:00-0400`, no colon
is common), never an IANA zone, while `EventData.timezone` wants one. The rule
(connectors.framework.place_zones):

- a value with an offset keeps its exact instant; its zone is the venue's when the
  venue's coordinates or country give one, else the source's `default_timezone`
  when that zone has the same offset at that instant, else a zone with that
  offset (`Etc/GMT+4` for -04:00): the local time the page wrote is never lost to
  UTC (an offset alone cannot name a place: -04:00 is New York in October and
  Santiago in January);
- a value without an offset is wall-clock time in the venue's zone, else in
  `default_timezone`;
- a date without a time is an all-day event. schema.org's `endDate` is then the
  last day, inclusive; `ends_at` is stored exclusive (midnight after it), as the
  rest of guildgraph stores all-day events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from connectors.framework.place_zones import zone_for_instant, zone_for_wall_clock
from schema.dates import not_a_date_time

_DATE_ONLY = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_SPACE_BEFORE_OFFSET = re.compile(r"(\d)\s+(Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True)
class When:
    starts_at: datetime  # aware: an exact instant; naive: wall clock in `timezone`
    ends_at: datetime | None
    timezone: str
    all_day: bool

    def payload(self) -> dict[str, Any]:
        return {
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "timezone": self.timezone,
            "all_day": self.all_day,
        }


def parse_moment(value: str) -> datetime | date:
    """An ISO 8601 date or date-time; raises ValueError naming the value."""
    cleaned = _SPACE_BEFORE_OFFSET.sub(r"\1\2", value.strip())
    only_date = _DATE_ONLY.match(cleaned)
    try:
        if only_date:
            return date(*(int(part) for part in only_date.groups()))
        return datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(not_a_date_time(value)) from None


def zone_for(
    moment: datetime, default_timezone: str, venue: Mapping[str, Any] | None = None
) -> str:
    if moment.tzinfo is None:
        return zone_for_wall_clock(default_timezone, venue)
    return zone_for_instant(moment, default_timezone, venue)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def when(
    start: datetime | date,
    end: datetime | date | None,
    default_timezone: str,
    venue: Mapping[str, Any] | None = None,
) -> When:
    """Start and end as EventData wants them (see the module docstring for the rule);
    `venue` is the event's Venue payload, if it has one."""
    # datetime is a subclass of date: test for datetime first.
    if isinstance(end, datetime) or end is None:
        ends = end
    else:
        ends = _midnight(end + timedelta(days=1))
    if isinstance(start, datetime):
        return When(start, ends, zone_for(start, default_timezone, venue), all_day=False)
    all_day = not isinstance(end, datetime)
    return When(_midnight(start), ends, zone_for_wall_clock(default_timezone, venue), all_day)
