"""Feed bytes -> occurrences: the parsing layer, pure (no HTTP), fed chunk by chunk.

`FeedParser.feed(chunk)` yields what each chunk completed; `close()` yields the rest.
Memory does not grow with the file: a single (non-recurring) event is parsed and
yielded as soon as its END:VEVENT arrives, then dropped. What is kept until the end:
- recurring series (masters and RECURRENCE-ID overrides, grouped by UID), since an
  override may come anywhere in the file, before or after its master;
- events whose TZID is unknown so far (a VTIMEZONE may follow; rare);
- an 8-byte digest per single-event UID, to drop the copies an aggregated feed
  carries when several groups export the same event (the first copy wins).
Series are expanded within [now - window_days_back, now + window_days_ahead).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from icalendar.error import GloballyUniqueTZIDGuessed

from connectors.framework.contract import Rejected
from connectors.framework.errors import SkippableRecord
from connectors.ics.event import (
    Occurrence,
    ReadContext,
    date_value,
    external_id,
    inherit_place,
    property_notes,
    read_last_modified,
    read_occurrence,
    read_sequence,
    read_uid,
    recurrence_key,
)
from connectors.ics.lines import Block, BlockSplitter
from connectors.ics.zones import DATE_PROPERTIES, ZoneResolver, iana_zone

ParsedItem = Occurrence | Rejected
MAX_RAW = 4000  # characters of a rejected block kept for the admin
RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
TOO_FREQUENT = frozenset({"SECONDLY", "MINUTELY"})
SLICE = timedelta(days=30)  # expansion step: bounds the occurrences held at once


@dataclass(frozen=True)
class ParseOptions:
    now: datetime  # injected: the expansion window never depends on the wall clock
    default_timezone: str = "UTC"  # for floating times and all-day events
    window_days_back: int = 30
    window_days_ahead: int = 365
    max_occurrences_per_series: int = 1000


@dataclass
class FeedStats:
    events: int = 0  # VEVENT blocks read
    occurrences: int = 0
    rejected: int = 0
    duplicates: int = 0  # copies of an event already seen (same UID / RECURRENCE-ID)
    series: int = 0
    skipped_components: dict[str, int] = field(default_factory=dict)  # VTODO, VJOURNAL...
    notes: list[str] = field(default_factory=list)  # feed-level: zones, cut series


@dataclass
class _Member:
    """One parsed VEVENT: a single event, a series master or an override."""

    event: icalendar.Event
    uid: str
    notes: list[str]
    raw: str

    @property
    def rank(self) -> tuple[int, str]:
        # Of two copies, the higher SEQUENCE, then the later LAST-MODIFIED, wins.
        return read_sequence(self.event, []), read_last_modified(self.event) or ""


@dataclass
class _Series:
    master: _Member | None = None
    overrides: dict[str, _Member] = field(default_factory=dict)  # by recurrence key

    def add(self, member: _Member, key: str | None) -> bool:
        """Keep `member` unless a newer copy is held; False when it was a duplicate."""
        held = self.master if key is None else self.overrides.get(key)
        if held is None or member.rank > held.rank:
            if key is None:
                self.master = member
            else:
                self.overrides[key] = member
        return held is None

    def members(self) -> list[_Member]:
        return ([self.master] if self.master else []) + list(self.overrides.values())


class FeedParser:
    def __init__(self, options: ParseOptions) -> None:
        self._options = options
        self._splitter = BlockSplitter()
        self._zones = ZoneResolver(ZoneInfo(options.default_timezone))
        self._feed_zone: ZoneInfo | None = None
        self._single_uids: set[bytes] = set()
        self._series: dict[str, _Series] = {}
        self._pending: list[_Member] = []
        self._closing = False
        self.stats = FeedStats()

    def feed(self, chunk: bytes) -> Iterator[ParsedItem]:
        for block in self._splitter.feed(chunk):
            yield from self._counted(self._block(block))

    def close(self) -> Iterator[ParsedItem]:
        for block in self._splitter.close():
            yield from self._counted(self._block(block))
        self._closing = True
        pending, self._pending = self._pending, []
        for member in pending:
            yield from self._counted(self._route(member))
        series, self._series = self._series, {}
        self.stats.series = len(series)
        for uid, one in series.items():
            yield from self._counted(self._expand(uid, one))
        self.stats.skipped_components = dict(self._splitter.skipped)
        self.stats.notes.extend(self._zones.notes)

    def _counted(self, items: Iterator[ParsedItem]) -> Iterator[ParsedItem]:
        for item in items:
            if isinstance(item, Rejected):
                self.stats.rejected += 1
            else:
                self.stats.occurrences += 1
            yield item

    @property
    def feed_zone(self) -> ZoneInfo:
        """X-WR-TIMEZONE if the feed names a known zone, else the configured default."""
        if self._feed_zone is None:
            declared = self._splitter.calendar_properties.get("X-WR-TIMEZONE")
            self._feed_zone = (iana_zone(declared) if declared else None) or self._zones.default
        return self._feed_zone

    def _block(self, block: Block) -> Iterator[ParsedItem]:
        if block.kind == "VTIMEZONE":
            self._timezone(block)
            return
        self.stats.events += 1
        member = _read_block(block)
        if isinstance(member, Rejected):
            yield member
        elif not self._closing and self._unknown_zone(member.event):
            self._pending.append(member)
        else:
            yield from self._route(member)

    def _timezone(self, block: Block) -> None:
        text, _ = block.text()
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.split(";")[0].strip().upper() == "TZID":
                self._zones.define(value.strip(), text)
                return

    def _unknown_zone(self, event: icalendar.Event) -> bool:
        for name in DATE_PROPERTIES:
            values = event.get(name)
            for prop in values if isinstance(values, list) else [values]:
                tzid = getattr(prop, "params", {}).get("TZID")
                if tzid and not self._zones.knows(tzid):
                    return True
        return False

    def _route(self, member: _Member) -> Iterator[ParsedItem]:
        digest = hashlib.blake2b(member.uid.encode(), digest_size=8).digest()
        if digest in self._single_uids:
            self.stats.duplicates += 1
            return
        event = member.event
        utc_zone = self.feed_zone if self.feed_zone.key != "UTC" else None
        self._zones.rezone(event, self.feed_zone, utc_zone)
        recurrence_id = date_value(event, "RECURRENCE-ID")
        recurring = "RRULE" in event or "RDATE" in event
        if recurrence_id is not None or recurring or member.uid in self._series:
            key = recurrence_key(recurrence_id) if recurrence_id is not None else None
            if not self._series.setdefault(member.uid, _Series()).add(member, key):
                self.stats.duplicates += 1
            return
        self._single_uids.add(digest)
        yield self._read(event, member, None)

    def _read(
        self, event: icalendar.Event, member: _Member, key: str | None, *notes: str
    ) -> ParsedItem:
        context = ReadContext(self.feed_zone, (*member.notes, *notes))
        try:
            occurrence = read_occurrence(event, member.uid, key, context)
        except SkippableRecord as error:
            return Rejected(error.reason, external_id(member.uid, key), member.raw[:MAX_RAW])
        # recurring-ical-events stamps every occurrence with the series' highest
        # SEQUENCE; the VEVENT it came from is what says whether this one changed.
        return replace(occurrence, sequence=member.rank[0])

    def _expand(self, uid: str, series: _Series) -> Iterator[ParsedItem]:
        members = series.members()
        base = series.master or members[0]
        frequency = _frequency(base.event)
        if frequency in TOO_FREQUENT:
            yield Rejected(f"RRULE FREQ={frequency} is too frequent for an event listing", uid)
            return
        calendar = icalendar.Calendar()
        for member in members:
            calendar.add_component(member.event)
        query = recurring_ical_events.of(calendar)
        seen: set[str] = set()
        for component in self._window(query, uid, base):
            if isinstance(component, Rejected):
                yield component
                return
            recurrence_id = date_value(component, "RECURRENCE-ID")
            if recurrence_id is None:
                continue  # the library sets it on every occurrence; never expected
            key = recurrence_key(recurrence_id)
            if key in seen:
                continue  # the same occurrence again, from the next slice
            seen.add(key)
            if len(seen) > self._options.max_occurrences_per_series:
                limit = self._options.max_occurrences_per_series
                self.stats.notes.append(f"series {uid!r} cut at {limit} occurrences")
                return
            override = series.overrides.get(key)
            if override is None:
                yield self._read(component, base, key)
            elif series.master and inherit_place(component, series.master.event):
                yield self._read(component, override, key, "place taken from the series")
            else:
                yield self._read(component, override, key)

    def _window(
        self, query: recurring_ical_events.CalendarQuery, uid: str, base: _Member
    ) -> Iterator[icalendar.Event | Rejected]:
        """Occurrences in the window, slice by slice, in start order within a slice."""
        now = self._options.now.astimezone(UTC)
        start = now - timedelta(days=self._options.window_days_back)
        end = now + timedelta(days=self._options.window_days_ahead)
        while start < end:
            stop = min(start + SLICE, end)
            try:
                found = query.between(start, stop)
            except (ValueError, TypeError, OverflowError) as error:
                yield Rejected(
                    f"recurrence could not be expanded: {error}", uid, base.raw[:MAX_RAW]
                )
                return
            yield from sorted(found, key=lambda event: self._start(event))
            start = stop

    def _start(self, event: icalendar.Event) -> datetime:
        value = date_value(event, "DTSTART")
        if isinstance(value, datetime):
            return value
        return datetime.combine(value or date.min, time(), tzinfo=self.feed_zone)


def _read_block(block: Block) -> _Member | Rejected:
    uid_hint = block.sniff_uid()
    text, replaced = block.text()
    if block.problem is not None:
        return Rejected(block.problem, uid_hint, text[:MAX_RAW])
    try:
        with warnings.catch_warnings():
            # A "/vendor/Area/City" TZID is guessed by icalendar with a warning;
            # ics.zones makes the same guess on purpose (rezone replaces the zone).
            warnings.simplefilter("ignore", GloballyUniqueTZIDGuessed)
            event = icalendar.Event.from_ical(text)
    except (ValueError, TypeError, KeyError) as error:
        return Rejected(f"VEVENT unreadable: {error}", uid_hint, text[:MAX_RAW])
    if not isinstance(event, icalendar.Event):
        return Rejected("VEVENT unreadable", uid_hint, text[:MAX_RAW])
    try:
        uid = read_uid(event)
    except SkippableRecord as error:
        return Rejected(error.reason, None, text[:MAX_RAW])
    notes = property_notes(event)
    if replaced:
        notes.append("bytes that are not UTF-8 were replaced")
    _drop_broken(event)
    return _Member(event, uid, notes, text)


def _drop_broken(event: icalendar.Event) -> None:
    """Recurrence properties that did not parse are dropped (already in the notes)."""
    for name in RECURRENCE_PROPERTIES:
        values = event.get(name)
        if values is None:
            continue
        kept = [v for v in (values if isinstance(values, list) else [values]) if _usable(v)]
        event.pop(name)
        if kept:
            event[name] = kept if len(kept) > 1 else kept[0]


def _frequency(event: icalendar.Event) -> str | None:
    rules = event.get("RRULE")
    rule = rules[0] if isinstance(rules, list) and rules else rules
    values = rule.get("FREQ") if isinstance(rule, icalendar.vRecur) else None
    return str(values[0]).upper() if values else None


def _usable(value: object) -> bool:
    return not isinstance(value, icalendar.prop.vBroken)


def parse_feed(data: bytes | Iterable[bytes], options: ParseOptions) -> Iterator[ParsedItem]:
    """The whole feed at once (tests, small feeds): bytes or an iterable of chunks."""
    parser = FeedParser(options)
    for chunk in [data] if isinstance(data, bytes) else data:
        yield from parser.feed(chunk)
    yield from parser.close()
