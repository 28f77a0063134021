"""Value transforms a mapping declares: registry dates, founding years, web addresses.

Each transform takes the text a source wrote and gives the payload value, or raises
`BadValue` with a message that quotes the value and says what was expected, so a
wrong value is never stored silently in place of the right one.

Dates come in the forms registries export (a form is written with dd, mm, yyyy):

    dd.mm.yyyy   31.12.2021, 1.2.2021      (Russian, German exports)
    yyyy-mm-dd   2021-12-31                (ISO 8601, databases)
    dd/mm/yyyy   31/12/2021                (British, French exports)
    mm/dd/yyyy   12/31/2021                (only when the mapping names it: it and
                                            dd/mm/yyyy cannot be told apart)

each optionally followed by a time ("31.12.2021 18:30", "2021-12-31T18:30:00",
an ISO offset such as "+03:00" or "Z" after it).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

Transform = Literal["date", "datetime", "year", "url"]
DateForm = Literal["dd.mm.yyyy", "yyyy-mm-dd", "dd/mm/yyyy", "mm/dd/yyyy"]
DEFAULT_FORMS: tuple[DateForm, ...] = ("dd.mm.yyyy", "yyyy-mm-dd", "dd/mm/yyyy")

_TIME = r"(?:[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?)?"
_OFFSET = r"\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?"
_DATE_PARTS: dict[DateForm, str] = {
    "dd.mm.yyyy": r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})",
    "yyyy-mm-dd": r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})",
    "dd/mm/yyyy": r"(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})",
    "mm/dd/yyyy": r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})",
}
_FORMS: dict[DateForm, re.Pattern[str]] = {
    form: re.compile(rf"^{pattern}{_TIME}{_OFFSET}$", re.IGNORECASE)
    for form, pattern in _DATE_PARTS.items()
}
_YEAR = re.compile(r"^\d{4}$")
_MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# What a web address without its scheme looks like: a host name with a dot (letters
# of any script: "сайт.рф"), an optional port and path. "www.example.org", "example.org/about".
_HOST = r"(?:[\w-]+\.)+[^\W\d_]{2,}\.?"
_BARE_ADDRESS = re.compile(rf"^{_HOST}(?::\d{{1,5}})?(?:[/?#]\S*)?$")
_WEB_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class BadValue(Exception):
    """A value the transform cannot read; the message quotes it."""


@dataclass(frozen=True)
class ReadDate:
    day: date
    clock: time | None  # None: no time was written
    offset: str | None  # as written, normalized to "+hh:mm" / "Z"


def read_date(text: str, forms: tuple[DateForm, ...] = DEFAULT_FORMS) -> ReadDate:
    """The date (and time) `text` writes in one of `forms`; BadValue if none, or if the
    day does not exist (30.02.2021)."""
    value = " ".join(text.split())
    for form in forms:
        found = _FORMS[form].match(value)
        if found is None:
            continue
        year, month, day = (int(found.group(name)) for name in ("year", "month", "day"))
        if not 1 <= month <= 12:
            raise BadValue(f"{text!r} is not a date: there is no month {month} ({form})")
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise BadValue(
                f"{text!r} is not a date: {_MONTHS[month]} {year} has no day {day} (it has {last})"
            )
        clock = None
        if found.group("hour") is not None:
            hour, minute = int(found.group("hour")), int(found.group("minute"))
            second = int(found.group("second") or 0)
            if hour > 23 or minute > 59 or second > 59:
                raise BadValue(f"{text!r} is not a date and time: no time {hour}:{minute:02d}")
            clock = time(hour, minute, second)
        offset = found.group("offset")
        if offset is not None and offset.upper() != "Z" and ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        return ReadDate(date(year, month, day), clock, offset.upper() if offset else None)
    raise BadValue(
        f"{text!r} is not a date in a form this mapping reads ({', '.join(forms)}, "
        "optionally with a time)"
    )


def to_date(text: str, forms: tuple[DateForm, ...] = DEFAULT_FORMS) -> str:
    """ "31.12.2021" -> "2021-12-31"."""
    return read_date(text, forms).day.isoformat()


def to_datetime(text: str, forms: tuple[DateForm, ...] = DEFAULT_FORMS) -> str:
    """ "31.12.2021 18:30" -> "2021-12-31T18:30:00" (with its offset when one is written;
    without, the event's own time zone applies); a date alone is its midnight."""
    read = read_date(text, forms)
    moment = datetime.combine(read.day, read.clock or time()).isoformat()
    return moment + (read.offset or "").replace("Z", "+00:00")


def to_year(text: str, forms: tuple[DateForm, ...] = DEFAULT_FORMS) -> int:
    """The year of a date ("12.05.1998" -> 1998), or a year written alone ("1998")."""
    value = text.strip()
    if _YEAR.match(value):
        return int(value)
    return read_date(value, forms).day.year


def to_url(text: str) -> str:
    """A web address as an absolute http(s) URL: "www.example.org" and "//example.org"
    get "https://"; what cannot be an address ("нет", "@channel", "a b") is BadValue."""
    value = text.strip()
    if _WEB_URL.match(value):
        return value
    if value.startswith("//") and _BARE_ADDRESS.match(value[2:]):
        return "https:" + value
    if _BARE_ADDRESS.match(value) and "@" not in value.split("/", 1)[0]:
        return "https://" + value
    raise BadValue(f"{text!r} is not a web address (such as https://example.org)")
