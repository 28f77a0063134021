"""The event's own date in an announcement's text or markup.

A feed item's pubDate/updated says when the announcement was written, not when
the event happens, so it is never used as the event date. What is read instead:

- microformats in the item's HTML: `dt-start`/`dt-end` (h-event) and
  `dtstart`/`dtend` (hCalendar), from `datetime`, `title`, `value` or the text;
- a source's own pattern (`date_pattern`), then the built-in patterns, in the
  title first and then the text; the earliest match in a text wins:
  ISO 8601 ("2026-12-12T18:30+03:00"), Russian ("12 декабря 2026 в 18:30",
  "12–14 декабря", "30 ноября — 2 декабря 2026 г."), English ("December 12, 2026
  6:30 pm", "12 December 2026 18:30", "Dec 12–14, 2026") and "12.12.2026 18:30".

A date written without a year takes the year that puts it on or after 30 days
before the item's publication (the reference date): "12 января" announced in
December is next January. That is the one use of pubDate.

Patterns (the built-in ones and a source's own) name their parts with groups:
`day`, `month` (a number or a Russian/English name), `year`, `hour`, `minute`,
`ampm`, `end_day`, `end_month`, `end_hour`, `end_minute`, `end_ampm`; or `date`
and `end_date` holding ISO 8601 values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser

from connectors.web.iso_dates import parse_moment

_MONTHS = {
    **dict.fromkeys(("янв", "jan"), 1),
    **dict.fromkeys(("фев", "feb"), 2),
    **dict.fromkeys(("мар", "mar"), 3),
    **dict.fromkeys(("апр", "apr"), 4),
    **dict.fromkeys(("мая", "май", "may"), 5),
    **dict.fromkeys(("июн", "jun"), 6),
    **dict.fromkeys(("июл", "jul"), 7),
    **dict.fromkeys(("авг", "aug"), 8),
    **dict.fromkeys(("сен", "sep"), 9),
    **dict.fromkeys(("окт", "oct"), 10),
    **dict.fromkeys(("ноя", "nov"), 11),
    **dict.fromkeys(("дек", "dec"), 12),
}
_RU_MONTH = (
    r"(?:января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
    r"|янв|фев|мар|апр|июн|июл|авг|сент|сен|окт|нояб|ноя|дек)(?![а-яё])\.?"
)
_EN_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)(?![a-z])\.?"
)
_RU_TIME = (
    r"(?:\s*(?:\([^)]{1,20}\))?\s*[,;]?\s*(?:в|с|начало\s+в)?\s*"
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})"
    r"(?:\s*(?:[-–—]|до|по)\s*(?P<end_hour>\d{1,2})[:.](?P<end_minute>\d{2}))?)?"
)
_AMPM = r"[AaPp]\.?[Mm]\.?"
_EN_TIME = (
    rf"(?:\s*(?:\([^)]{{1,20}}\))?\s*(?:,|·|@|at|from)?\s*(?:at\s+)?"
    rf"(?P<hour>\d{{1,2}})(?::(?P<minute>\d{{2}}))?\s*(?P<ampm>{_AMPM})?"
    rf"(?:\s*(?:[-–—]|to|until)\s*(?P<end_hour>\d{{1,2}})(?::(?P<end_minute>\d{{2}}))?"
    rf"\s*(?P<end_ampm>{_AMPM})?)?)?"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_ISO = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"

BUILT_IN: tuple[re.Pattern[str], ...] = (
    re.compile(
        rf"(?<![\d-])(?P<date>{_ISO})(?!\d)(?:\s*(?:/|–|—|\sto\s|\sдо\s)\s*(?P<end_date>{_ISO}))?"
    ),
    re.compile(
        rf"(?<![\d.])(?P<day>\d{{1,2}})(?:\s*(?:[-–—]|по)\s*(?P<end_day>\d{{1,2}}))?"
        rf"\s+(?P<month>{_RU_MONTH})"
        rf"(?:\s*[-–—]\s*(?P<end_day2>\d{{1,2}})\s+(?P<end_month>{_RU_MONTH}))?"
        rf"(?:\s+(?P<year>\d{{4}})(?:\s*(?:г\.|года|г)(?![а-яё]))?)?(?!\d)" + _RU_TIME,
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?P<month>{_EN_MONTH})\s+(?P<day>\d{{1,2}}){_ORDINAL}(?!\d)"
        rf"(?:\s*[-–]\s*(?P<end_day>\d{{1,2}}){_ORDINAL}(?!\d))?"
        rf"(?:,?\s+(?P<year>\d{{4}}))?(?!\d)" + _EN_TIME
    ),
    re.compile(
        rf"(?<![\d.])(?P<day>\d{{1,2}}){_ORDINAL}(?:\s*[-–]\s*(?P<end_day>\d{{1,2}}){_ORDINAL})?"
        rf"\s+(?:of\s+)?(?P<month>{_EN_MONTH}),?(?:\s+(?P<year>\d{{4}}))?(?!\d)" + _EN_TIME
    ),
    re.compile(
        r"(?<![\d.])(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})(?!\d)"
        r"(?:\s*(?:,|в)?\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})"
        r"(?:\s*[-–—]\s*(?P<end_hour>\d{1,2}):(?P<end_minute>\d{2}))?)?"
    ),
)
_YEAR_SLACK = timedelta(days=30)


@dataclass(frozen=True)
class EventDate:
    start: datetime | date  # naive or aware; a date alone is an all-day event
    end: datetime | date | None = None


def month_number(value: str) -> int | None:
    value = value.strip().rstrip(".").lower()
    if value.isdigit():
        return int(value) if 1 <= int(value) <= 12 else None
    return _MONTHS.get(value[:3])


def _year_for(month: int, day: int, reference: date) -> int:
    try:
        candidate = date(reference.year, month, day)
    except ValueError:  # 29 February outside a leap year: try the next year
        return reference.year + 1
    return reference.year + 1 if candidate < reference - _YEAR_SLACK else reference.year


def _clock(hour: str | None, minute: str | None, ampm: str | None) -> time | None:
    # An hour alone ("December 12, 2026 10 participants") is not a time.
    if hour is None or (minute is None and ampm is None):
        return None
    h, m = int(hour), int(minute or 0)
    if ampm:
        pm = ampm.lower().startswith("p")
        h = (h % 12) + (12 if pm else 0)
    return time(h, m) if h < 24 and m < 60 else None


def _from_groups(groups: dict[str, str | None], reference: date) -> EventDate | None:
    if groups.get("date"):
        end_iso = groups.get("end_date")
        return EventDate(
            parse_moment(groups["date"] or ""), parse_moment(end_iso) if end_iso else None
        )
    month = month_number(groups.get("month") or "")
    day = int(groups.get("day") or 0)
    if month is None or not day:
        return None
    end_day = groups.get("end_day") or groups.get("end_day2")
    end_month = month_number(groups.get("end_month") or "") or month
    year_text = groups.get("year")
    if year_text:
        # In "30 декабря — 2 января 2027" the year written is the end's.
        year = int(year_text)
        if end_day and (end_month, int(end_day)) < (month, day):
            year -= 1
    else:
        year = _year_for(month, day, reference)
    first = date(year, month, day)
    last = None
    if end_day:
        last = date(year + (end_month < month), end_month, int(end_day))
    opens = _clock(groups.get("hour"), groups.get("minute"), groups.get("ampm"))
    closes = _clock(
        groups.get("end_hour"),
        groups.get("end_minute"),
        groups.get("end_ampm") or groups.get("ampm"),
    )
    start: datetime | date = datetime.combine(first, opens) if opens else first
    end: datetime | date | None = last
    if opens and closes and last is None:
        end = datetime.combine(first, closes)
        if end <= start:  # "22:00–02:00" ends the next day
            end += timedelta(days=1)
    return EventDate(start, end)


def find_in_text(
    text: str, reference: date, patterns: tuple[re.Pattern[str], ...] = BUILT_IN
) -> EventDate | None:
    """The earliest date any of `patterns` finds in `text`."""
    best: tuple[int, EventDate] | None = None
    for pattern in patterns:
        for match in pattern.finditer(text):
            if best is not None and match.start() >= best[0]:
                break
            try:
                found = _from_groups(match.groupdict(), reference)
            except ValueError:  # 31 February, month 13, an unreadable ISO value
                continue
            if found is not None:
                best = (match.start(), found)
                break
    return best[1] if best else None


class _Microformats(HTMLParser):
    _START = frozenset({"dt-start", "dtstart"})
    _END = frozenset({"dt-end", "dtend"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._capturing: tuple[str, str, list[str]] | None = None  # (role, tag, text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = set((found.get("class") or "").split())
        role = "start" if classes & self._START else "end" if classes & self._END else None
        if role is None or role in self.values:
            return
        value = found.get("datetime") or found.get("title") or found.get("value")
        value = value or found.get("content")
        if value and value.strip():
            self.values[role] = value.strip()
        else:
            self._capturing = (role, tag, [])

    def handle_data(self, data: str) -> None:
        if self._capturing is not None:
            self._capturing[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._capturing is not None and tag == self._capturing[1]:
            role, _, parts = self._capturing
            self.values.setdefault(role, "".join(parts).strip())
            self._capturing = None


def _moment(value: str, reference: date) -> datetime | date | None:
    try:
        return parse_moment(value)
    except ValueError:
        found = find_in_text(value, reference)
        return found.start if found else None


def _microformat_values(html: str) -> dict[str, str]:
    parser = _Microformats()
    parser.feed(html)
    parser.close()
    return parser.values


def microformat_start(html: str) -> str | None:
    """The start an item's microformats give (dt-start, dtstart), as written."""
    return _microformat_values(html).get("start") or None


def find_in_microformats(html: str, reference: date) -> EventDate | None:
    values = _microformat_values(html)
    start = _moment(values.get("start", ""), reference)
    if start is None:
        return None
    end_value = values.get("end")
    return EventDate(start, _moment(end_value, reference) if end_value else None)
