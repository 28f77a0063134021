"""The connector contract: a connector declares streams; a stream yields what it read.

A stream is an async generator of `Emitted` items:

- `Listing` (schema.models): one record, mapped to guildgraph's payload shape;
- `Rejected`: one record that could not be used, with the reason and the raw value;
- `FieldWarning`: a value left out of the next `Listing` of the same external id (the
  record is kept without it, as the source's mapping chose), with the raw value and
  why; it comes before that listing, so the engine stores the two together;
- `Skipped`: a record the source passes over on purpose (not what the stream reads:
  a band's node on a concert page, a WebPage node in a JSON-LD graph); the engine
  counts it in the run's summary, with a sample, and stores nothing;
- `Checkpoint`: the stream's state after everything yielded before it. The engine
  stores it only once those records are durable, and passes the last stored state
  back to `records(state)` on the next run (a resumed run continues from there).

State is a small JSON-able mapping the stream defines: a cursor or page token, an
ETag/Last-Modified pair, a set of content hashes. Streams never touch the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from connectors.framework.conditional import Validators
from schema.models import Listing
from schema.taxonomy import EntityType

State = Mapping[str, Any]


@dataclass(frozen=True)
class Rejected:
    reason: str
    external_id: str | None = None
    raw: Any = None
    # The record's entity when the stream yields several (GraphQL children, Singer
    # streams); None: the stream's own.
    entity: EntityType | None = None


@dataclass(frozen=True)
class FieldWarning:
    """A kept record's value that was left out: `field` is the payload path, `raw` the
    value as the source wrote it, `message` why it could not be used."""

    external_id: str
    field: str
    raw: Any
    message: str


@dataclass(frozen=True)
class Skipped:
    """A record passed over on purpose: `reason` says what it is and why it is not read."""

    reason: str
    external_id: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    state: dict[str, Any] = field(default_factory=dict)
    # How many records the stream will yield in all, when the source says so (a
    # "total" in an API's response): the engine shows the run's remaining work.
    estimated_total: int | None = None


Emitted = Listing | Rejected | FieldWarning | Skipped | Checkpoint
# What mapping one record gives: its listing (or why not) and the values left out of it.
Mapped = Listing | Rejected | FieldWarning


@runtime_checkable
class Remappable(Protocol):
    """A stream that can map a raw record it once kept as `Rejected.raw` again, with
    the source's configuration as it is now (admins' `reprocessListings`): None when
    `raw` is not one of its records (another entity, or text it could not parse)."""

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None: ...


class Stream(Protocol):
    """One kind of record from one source."""

    @property
    def name(self) -> str: ...

    @property
    def entity(self) -> EntityType: ...

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Raw fields whose values make the record's external id."""
        ...

    @property
    def replication_key(self) -> str | None:
        """The raw field that orders changes (incremental syncs), if the source has one."""
        ...

    def records(self, state: State | None) -> AsyncIterator[Emitted]:
        """Read from `state` on (None: from the start); end with a final Checkpoint."""
        ...


class Connector(Protocol):
    """A configured source: what streams it has."""

    def streams(self) -> Sequence[Stream]: ...


@dataclass(frozen=True)
class Fetched:
    """A whole response body (capped in size by the fetcher)."""

    url: str  # after redirects
    status: int  # 200, or 304 when a conditional GET found nothing new
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def validators(self) -> dict[str, str]:
        """What to send next time for a conditional GET (goes into stream state)."""
        return Validators.of_response(self.headers).state()


class StreamedBody(Protocol):
    """A response read in chunks, for files too large to hold (CSV registries, feeds)."""

    url: str
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]: ...


class Fetcher(Protocol):
    """Outbound reads, safe by default (connectors.net.fetcher.SafeFetcher implements it).

    Raises connectors.framework.errors: RetriableError once retries are used up, FatalError
    for refused addresses, 4xx, oversize bodies and redirect loops.
    """

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched: ...

    async def post_json(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """A POST (GraphQL platforms); never retried, as POSTs are not known to be safe."""
        ...

    def stream(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[StreamedBody]: ...
