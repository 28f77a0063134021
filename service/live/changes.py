"""Change feeds from MongoDB change streams, shared by every subscriber of an instance.

A `ChangeHub` keeps one change stream (on the database, filtered to its collections)
open while anyone listens and fans each change out to in-process `Listener`s. One
stream per hub, not one per subscription: a blocked `getMore` holds a pooled
connection, and the embedded server answers about 1,000 round trips a second. Any
instance sees writes made by every other instance, because they all read the same
stream of the shared database.

Measured on SecantusDB (and the same on MongoDB): a database-level `watch` with a
`$match` on `ns.coll`/`operationType` and a `$project`, `fullDocument="updateLookup"`
(the document as it is when the change is read; None once it is deleted), resume
tokens, and delete events that carry only `documentKey`. An update through a
pipeline arrives as "replace" on SecantusDB and as "update" on MongoDB, so callers
treat both alike. A deleted document has no content to filter on, hence the
tombstones ingestion writes before a delete (service.ingest.tombstones), whose
insert is the change subscribers see.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from service.errors import ServiceError
from service.storage.collections import Database

logger = logging.getLogger("guildgraph.changes")

Doc = dict[str, Any]

INSERT = "insert"

UPDATE = "update"

REPLACE = "replace"

DELETE = "delete"

# A subscriber that falls this far behind loses its backlog and is told so.
BACKLOG = 1000

MAX_AWAIT_MS = 1000

OPEN_TIMEOUT_S = 30.0

_RETRY_MAX_S = 30.0

# Resume tokens the server no longer has history for: reopen from now.
_HISTORY_LOST = frozenset({280, 286})

# Large or secret fields no subscriber needs.
_NOT_SHIPPED = {"fullDocument.match_keys": 0, "fullDocument.hash": 0}


class FeedClosed(ServiceError):
    """The hub was stopped (server shutdown): no more changes will come."""


@dataclass(eq=False)
class Change:
    """One change event as a listener sees it."""

    collection: str
    operation: str
    key: Any
    doc: Doc | None
    # Fields an "update" set or removed; None when unknown (insert, replace, delete).
    fields: frozenset[str] | None
    at: datetime
    # Work derived from the change once and shared by its listeners (see service.live.service).
    memo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Change:
        description = event.get("updateDescription")
        fields = None
        if description is not None:
            fields = frozenset(description.get("updatedFields") or ()) | frozenset(
                description.get("removedFields") or ()
            )
        wall_time = event.get("wallTime")
        return cls(
            collection=event["ns"]["coll"],
            operation=event["operationType"],
            key=event["documentKey"]["_id"],
            doc=event.get("fullDocument"),
            fields=fields,
            at=wall_time if isinstance(wall_time, datetime) else datetime.now(UTC),
        )


class Listener:
    """One subscriber's queue of changes.

    `get()` returns the next change, or None when changes may have been missed
    (the subscriber fell `BACKLOG` behind, or the stream lost its history): the
    subscriber re-reads what it follows, or ends.
    """

    def __init__(self, hub: ChangeHub, match: Callable[[Change], bool] | None) -> None:
        self._hub = hub
        self._match = match
        self._queue: deque[Change] = deque()
        self._wake = asyncio.Event()
        self._missed = False
        self._closed = False

    def offer(self, change: Change) -> None:
        if self._match is not None and not self._match(change):
            return
        if len(self._queue) >= BACKLOG:
            self._queue.clear()
            self.missed()
            return
        self._queue.append(change)
        self._wake.set()

    def missed(self) -> None:
        self._missed = True
        self._wake.set()

    def ended(self) -> None:
        self._closed = True
        self._wake.set()

    async def get(self) -> Change | None:
        while True:
            if self._closed:
                raise FeedClosed
            if self._missed:
                self._missed = False
                return None
            if self._queue:
                return self._queue.popleft()
            self._wake.clear()
            await self._wake.wait()

    def drain(self) -> None:
        """Forget what is queued (a subscriber about to re-read everything)."""
        self._queue.clear()
        self._missed = False

    def close(self) -> None:
        """Stop listening (idempotent); the hub's stream closes with its last listener."""
        self._closed = True
        self._hub.drop(self)


class ChangeHub:
    """One change stream over `operations` ({collection: operation types}), fanned out."""

    def __init__(self, operations: Mapping[str, Collection[str]]) -> None:
        self._pipeline: list[Doc] = [
            {
                "$match": {
                    "$or": [
                        {"ns.coll": name, "operationType": {"$in": sorted(ops)}}
                        for name, ops in operations.items()
                    ]
                }
            },
            {"$project": _NOT_SHIPPED},
        ]
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def listen(self, db: Database, match: Callable[[Change], bool] | None = None) -> Listener:
        """A listener that receives every matching change committed after this returns."""
        listener = Listener(self, match)
        self._listeners.add(listener)
        if self._task is None:
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._watch(db, self._ready))
            self._task.add_done_callback(self._watch_done)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await self._ready.wait()
        except BaseException:
            listener.close()
            raise
        return listener

    def drop(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners and self._task is not None:
            self._task.cancel()
            self._task = None

    async def stop(self) -> None:
        """End every listener and close the stream (at shutdown)."""
        for listener in list(self._listeners):
            listener.ended()
        self._listeners.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _watch_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        # Only a bug ends the loop (database errors are retried): fail loudly, once.
        logger.error("change stream stopped", exc_info=task.exception())
        if task is self._task:
            self._task = None
            for listener in list(self._listeners):
                listener.ended()
            self._listeners.clear()

    async def _watch(self, db: Database, ready: asyncio.Event) -> None:
        token: Mapping[str, Any] | None = None
        failures = 0
        while True:
            try:
                async with await db.watch(
                    self._pipeline,
                    full_document="updateLookup",
                    resume_after=token,
                    max_await_time_ms=MAX_AWAIT_MS,
                ) as stream:
                    if ready.is_set() and token is None:
                        # Reopened from "now" after an error: a gap is possible.
                        for listener in list(self._listeners):
                            listener.missed()
                    ready.set()
                    failures = 0
                    async for event in stream:
                        token = stream.resume_token
                        change = Change.of(event)
                        for listener in list(self._listeners):
                            listener.offer(change)
            except OperationFailure as error:
                if error.code in _HISTORY_LOST:
                    token = None
                failures += 1
                logger.warning("change stream failed (%s); reopening", error)
            except PyMongoError as error:
                failures += 1
                logger.warning("change stream failed (%s); reopening", error)
            await asyncio.sleep(min(_RETRY_MAX_S, 0.25 * 2**failures))
