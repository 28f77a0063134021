"""The iCalendar (RFC 5545) feed connector: one stream, "events".

    fetcher.stream(url, etag, last_modified)         connectors.framework.contract.Fetcher
      -> chunks -> FeedParser                        ics.parse (ics.lines, ics.zones, ics.event)
      -> Occurrence | Rejected -> to_listing         ics.listing
      -> Listing | Rejected | Checkpoint

The feed is read as it arrives; see ics.parse for what is held in memory.

State: {"etag", "last_modified"} for a conditional GET (a 304 yields only the
final Checkpoint), and with `skip_unchanged` a "fingerprints" list: one short
hash per occurrence (external id, payload, SEQUENCE, LAST-MODIFIED). An
occurrence whose fingerprint is stored is not emitted again, which also lets a
resumed run skip what it already delivered. Checkpoints during the run keep the
validators the run started with, so a run stopped half-way does not get a 304
for a feed it has not finished reading; only the final one stores the new ones.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connectors.framework.conditional import Validators
from connectors.framework.contract import Checkpoint, Emitted, Fetcher, Rejected, State, Stream
from connectors.framework.errors import FatalError
from connectors.ics.config import FormatRule, IcsFeedConfig
from connectors.ics.event import Occurrence
from connectors.ics.listing import Mapped, to_listing
from connectors.ics.parse import FeedParser, FeedStats, ParsedItem, ParseOptions
from schema.models import Listing
from schema.taxonomy import EntityType

__all__ = ["FormatRule", "IcsFeedConfig", "IcsFeedConnector", "IcsFeedStream", "IcsReport"]

STREAM_NAME = "events"
MAX_NOTED_EVENTS = 200  # events whose notes are kept in the report, to bound its size
logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class IcsReport:
    """What the last run saw, beyond the records: counts and ignored properties."""

    stats: FeedStats = field(default_factory=FeedStats)
    emitted: int = 0
    rejected: int = 0  # by the parser or by the mapping
    unchanged: int = 0  # fingerprints already in the state: not emitted again
    not_modified: bool = False
    note_counts: Counter[str] = field(default_factory=Counter)  # e.g. "GEO ignored": 5
    notes: dict[str, list[str]] = field(default_factory=dict)  # external id -> notes

    def add_notes(self, occurrence: Occurrence) -> None:
        for note in occurrence.notes:
            self.note_counts[note.split(" ", 1)[0]] += 1  # by property name
        if occurrence.notes and len(self.notes) < MAX_NOTED_EVENTS:
            self.notes[occurrence.external_id] = list(occurrence.notes)


@dataclass
class _State:
    validators: Validators = field(default_factory=Validators)
    fingerprints: frozenset[str] = frozenset()

    @classmethod
    def load(cls, state: State | None) -> _State:
        state = state or {}
        prints = state.get("fingerprints")
        return cls(
            validators=Validators(
                _text_or_none(state.get("etag")), _text_or_none(state.get("last_modified"))
            ),
            fingerprints=frozenset(p for p in prints if isinstance(p, str))
            if isinstance(prints, list)
            else frozenset(),
        )

    def dump(self, *, with_fingerprints: bool) -> dict[str, Any]:
        state: dict[str, Any] = self.validators.state()
        if with_fingerprints:
            state["fingerprints"] = sorted(self.fingerprints)
        return state


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class IcsFeedStream:
    """Occurrences of a feed's events as event Listings."""

    def __init__(
        self, source_id: str, config: IcsFeedConfig, fetcher: Fetcher, *, now: Clock = _wall_clock
    ) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self._now = now
        self.report = IcsReport()

    @property
    def name(self) -> str:
        return STREAM_NAME

    @property
    def entity(self) -> EntityType:
        return EntityType.EVENT

    @property
    def primary_key(self) -> tuple[str, ...]:
        return ("uid", "recurrence_id")

    @property
    def replication_key(self) -> str | None:
        return None  # a feed is read whole; ETag and fingerprints stand in for a cursor

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        previous = _State.load(state)
        self.report = IcsReport()
        run = _Run(self._config, self._source_id, self._now(), previous, self.report)
        async with self._fetcher.stream(
            self._config.url,
            etag=previous.validators.etag,
            last_modified=previous.validators.last_modified,
        ) as body:
            if body.status == 304:
                self.report.not_modified = True
                yield Checkpoint(previous.dump(with_fingerprints=self._config.skip_unchanged))
                return
            if body.status != 200:
                raise FatalError(f"{self._config.url}: HTTP {body.status} is not a feed")
            async for chunk in body.chunks():
                for item in run.parser.feed(chunk):
                    for emitted in run.emit(item):
                        yield emitted
            for item in run.parser.close():
                for emitted in run.emit(item):
                    yield emitted
            validators = Validators.of_response(body.headers)
        self.report.stats = run.parser.stats
        _log(self._config.url, self.report)
        yield Checkpoint(run.final_state(validators))


class _Run:
    """One read of the feed: maps items, tracks fingerprints, paces checkpoints."""

    def __init__(
        self,
        config: IcsFeedConfig,
        source_id: str,
        now: datetime,
        previous: _State,
        report: IcsReport,
    ) -> None:
        self.parser = FeedParser(
            ParseOptions(
                now=now,
                default_timezone=config.default_timezone,
                window_days_back=config.window_days_back,
                window_days_ahead=config.window_days_ahead,
                max_occurrences_per_series=config.max_occurrences_per_series,
            )
        )
        self._config = config
        self._source_id = source_id
        self._now = now
        self._previous = previous
        self._seen: set[str] = set()
        self._report = report

    def emit(self, item: ParsedItem) -> Iterator[Emitted]:
        if isinstance(item, Rejected):
            self._report.rejected += 1
            yield item
            return
        self._report.add_notes(item)
        mapped = to_listing(item, self._config, self._source_id, self._now)
        if isinstance(mapped, Rejected):
            self._report.rejected += 1
            yield mapped
            return
        yield from self._listing(mapped)

    def _listing(self, mapped: Mapped) -> Iterator[Listing | Checkpoint]:
        self._seen.add(mapped.fingerprint)
        if self._config.skip_unchanged and mapped.fingerprint in self._previous.fingerprints:
            self._report.unchanged += 1
            return
        yield mapped.listing
        self._report.emitted += 1
        if self._report.emitted % self._config.checkpoint_every == 0:
            yield Checkpoint(self._progress_state())

    def _progress_state(self) -> dict[str, Any]:
        progress = _State(self._previous.validators, self._previous.fingerprints | self._seen)
        return progress.dump(with_fingerprints=self._config.skip_unchanged)

    def final_state(self, validators: Validators) -> dict[str, Any]:
        final = _State(validators, frozenset(self._seen))
        return final.dump(with_fingerprints=self._config.skip_unchanged)


def _log(url: str, report: IcsReport) -> None:
    stats = report.stats
    logger.info(
        "ics %s: %d events, %d occurrences, %d emitted, %d unchanged, %d rejected, "
        "%d duplicates; ignored: %s; %s",
        url,
        stats.events,
        stats.occurrences,
        report.emitted,
        report.unchanged,
        report.rejected,
        stats.duplicates,
        dict(report.note_counts) or "nothing",
        "; ".join(stats.notes) or "no feed notes",
    )


class IcsFeedConnector:
    """A configured iCalendar feed source."""

    def __init__(
        self, source_id: str, config: IcsFeedConfig, fetcher: Fetcher, *, now: Clock = _wall_clock
    ) -> None:
        try:
            # The source id must fit every Listing this connector will build.
            Listing(entity=EntityType.EVENT, source_id=source_id, external_id="-", payload={})
        except ValidationError as error:
            raise FatalError(f"source id {source_id!r} is not usable: {error}") from None
        self._stream = IcsFeedStream(source_id, config, fetcher, now=now)

    def streams(self) -> Sequence[Stream]:
        return [self._stream]
