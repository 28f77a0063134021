"""Keeping the read model current: MongoDB's change stream applied to the SQLite file.

One process per host applies (service.read_model.runtime decides which). It follows
one change stream on the database, filtered to the entity collections and the
read barriers, and applies the changes in transactions that also store the
stream's resume token. At start it resumes from the stored token when the file is
of the current format and the server still has the history; otherwise it rebuilds:

1. open the change stream first (the point to continue from),
2. copy every entity into a new file (the snapshot), storing that point's token,
3. put the new file in place of the old one (readers reopen it),
4. follow the stream opened in 1: changes made during the copy are applied again,
   which is harmless (an upsert replaces an entity's rows by its current document).

A broken stream (the database restarts, a network error) is reopened from the
stored token; an unreadable or deleted file is rebuilt, and so is the read model when
the stream no longer describes the collections: one of them dropped or renamed, or the
database dropped (MongoDB then ends the stream). Readers keep answering from the file
they have open throughout.

Caught up (service.read_model.runtime: ready) means every change committed before the
applier started is in the file: having opened its stream, the applier writes a marker
of its own to the read barriers, and is caught up once it has applied that. An empty
batch says nothing of the kind: changes of collections the stream filters out come as
empty batches while the changes behind them are still to come.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import bson
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure, PyMongoError

from service.read_model import redirects, store
from service.read_model.rows import project
from service.storage.collections import ENTITY_REDIRECTS, READ_BARRIERS, Database

logger = logging.getLogger("guildgraph.read_model")

T = TypeVar("T")
ENTITY_COLLECTIONS = store.COLLECTIONS
WATCHED = (*ENTITY_COLLECTIONS, READ_BARRIERS, ENTITY_REDIRECTS)
# Changes applied per transaction at most; a burst is applied in a few transactions.
MAX_BATCH = 500
MAX_AWAIT_MS = 200
SNAPSHOT_BATCH = 1000
# The database's identity (Applier._origin): a document beside the barriers, and the
# read model's record of the one it was made from.
ORIGIN_ID = "read_model_origin"
ORIGIN_META = "database_origin"
# The stored resume token cannot be used: the server no longer has its history
# (MongoDB: 280, 286), or does not read it as a token (260; SecantusDB: 9).
HISTORY_LOST = frozenset({9, 260, 280, 286})
# Changes after which the stream no longer describes what the read model holds: a
# followed collection dropped or renamed, the database dropped (the stream is then
# invalidated, and ends). Only a new snapshot is right after them.
ENDS_HISTORY = frozenset({"drop", "rename", "dropDatabase", "invalidate"})
RETRY_MAX_S = 10.0
HEARTBEAT_S = 1.0
BARRIER_PREFIX = "barrier:"
# When the applier last was caught up (None: it is catching up); see runtime.
CAUGHT_UP_AT = "caught_up_at"


class HistoryLost(Exception):
    """The stream cannot be followed from the stored resume token, or no longer describes
    the collections: the read model must be rebuilt."""


class Applier:
    """Applies the change stream to the read-model file at `path`; run by one process."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.caught_up = asyncio.Event()
        self.rebuilds = 0
        self.last_rebuild_s: float | None = None
        # SQLite work runs on one thread of its own: the event loop keeps serving
        # requests while a batch is written, and one connection is used by one thread.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-model")
        self._writer: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._last_heartbeat = 0.0
        self._failures = 0
        # This applier's marker in the read barriers (see the module's docstring).
        self._marker = f"applier:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._marker_n = 0

    async def _sql(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def run(self) -> None:
        """Apply changes until cancelled; every failure is logged and retried (the
        applier never ends on its own while its process holds the lock)."""
        try:
            while True:
                try:
                    await self._follow()
                except HistoryLost as lost:
                    logger.warning("read model: %s; rebuilding", lost)
                    await self._sql(self._discard)
                except (PyMongoError, store.ReadModelUnavailable, sqlite3.DatabaseError) as error:
                    logger.warning("read model: %s; retrying in %.1f s", error, self._backoff())
                    await self._retry_later()
                except Exception:
                    # Not expected (a change it cannot project?): said loudly, retried.
                    logger.exception(
                        "read model: applying failed; retrying in %.1f s", self._backoff()
                    )
                    await self._retry_later()
        finally:
            await self._sql(self._forget_writer)
            self._thread.shutdown(wait=False)

    def _backoff(self) -> float:
        return min(RETRY_MAX_S, 0.25 * 2.0 ** (self._failures + 1))

    async def _retry_later(self) -> None:
        wait = self._backoff()
        self._failures += 1
        await self._sql(self._forget_writer)
        await asyncio.sleep(wait)

    async def _follow(self) -> None:
        origin = await self._origin()
        caught_up = self.caught_up.is_set()
        token = await self._sql(functools.partial(self._stored_token, caught_up, origin))
        if token is None:
            stream = await self._open(None)
            try:
                await self._mark()
                await self.rebuild(stream, origin)
                await self._drain(stream)
            finally:
                await stream.close()
            return
        try:
            stream = await self._open(token)
        except OperationFailure as error:
            if error.code in HISTORY_LOST:
                raise HistoryLost(f"the stored resume token cannot be used: {error}") from error
            raise
        try:
            await self._mark()
            await self._drain(stream)
        finally:
            await stream.close()

    async def _origin(self) -> str:
        """The database's identity: made once, by whichever applier comes first, and the
        same for every host's. A database dropped or replaced while this process was
        away (its files removed, a restore) has another one, or none yet: a token of
        the old one could point past everything the new one has, and the stream would
        never deliver a change, so the read model would never catch up."""
        barriers = self.db[READ_BARRIERS]
        await barriers.update_one(
            {"_id": ORIGIN_ID}, {"$setOnInsert": {"origin": secrets.token_hex(8)}}, upsert=True
        )
        found = await barriers.find_one({"_id": ORIGIN_ID})
        return str(found["origin"]) if found else ""

    async def _mark(self) -> None:
        """Write this applier's marker, after the stream was opened: once the marker's
        change is applied, so is every change committed before."""
        self._marker_n += 1
        await self.db[READ_BARRIERS].update_one(
            {"_id": self._marker},
            {"$set": {"n": self._marker_n, "at": time.time()}},
            upsert=True,
        )
        self._failures = 0  # the database answers again

    async def _open(self, token: Mapping[str, Any] | None) -> AsyncChangeStream[dict[str, Any]]:
        followed = {"$in": list(WATCHED)}
        ending = {"$in": ["dropDatabase", "invalidate"]}
        changes = [{"ns.coll": followed}, {"to.coll": followed}, {"operationType": ending}]
        pipeline = [{"$match": {"$or": changes}}]
        return await self.db.watch(
            pipeline,
            full_document="updateLookup",
            resume_after=token,
            max_await_time_ms=MAX_AWAIT_MS,
        )

    async def _drain(self, stream: AsyncChangeStream[dict[str, Any]]) -> None:
        """Apply changes as they come, until the stream or the file fails."""
        pending: list[dict[str, Any]] = []
        while True:
            try:
                change = await stream.try_next()
            except OperationFailure as error:
                if error.code in HISTORY_LOST:
                    raise HistoryLost(f"the change stream cannot go on: {error}") from error
                raise
            if change is not None:
                if change["operationType"] in ENDS_HISTORY:
                    raise HistoryLost(f"{change['operationType']} of {_namespace(change)}")
                pending.append(change)
            elif not stream.alive:
                # Invalidated without a word the filter let through: the stream is over.
                raise HistoryLost("the change stream ended")
            # Commit when the batch the server sent is used up (private, pinned by the
            # lock file: PyMongo has no public "anything buffered?"), or it is large.
            buffered = change is not None and stream._cursor._has_next()
            if pending and (not buffered or len(pending) >= MAX_BATCH):
                token = stream.resume_token
                batch, pending = pending, []
                reached = not self.caught_up.is_set() and self._marked(batch)
                caught_up = self.caught_up.is_set() or reached
                await self._sql(functools.partial(self._apply, batch, token, caught_up))
                if reached:
                    logger.info("read model caught up")
                    self.caught_up.set()
            elif change is None:
                heartbeat = functools.partial(
                    self._heartbeat, stream.resume_token, self.caught_up.is_set()
                )
                await self._sql(heartbeat)

    def _marked(self, batch: Sequence[Mapping[str, Any]]) -> bool:
        """Whether `batch` holds this applier's latest marker."""
        return any(
            (change.get("ns") or {}).get("coll") == READ_BARRIERS
            and change.get("documentKey", {}).get("_id") == self._marker
            and (barrier_value(change) or 0) >= self._marker_n
            for change in batch
        )

    # -- on the SQLite thread ---------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        identity = store.file_identity(self.path)
        if self._writer is not None and identity == self._identity:
            return self._writer
        # Replaced, deleted or never opened: (re)open; a missing or bad file is rebuilt.
        self._forget_writer()
        self._writer = store.open_writer(self.path)
        self._identity = identity
        return self._writer

    def _forget_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._identity = None, None

    def _discard(self) -> None:
        """Make the next start rebuild: the stored token is of no use any more."""
        try:
            connection = self._connection()
        except store.ReadModelUnavailable:
            return
        with store.transaction(connection):
            store.set_meta(connection, "resume_token", None)

    def _stored_token(self, caught_up: bool, origin: str) -> Mapping[str, Any] | None:
        """The token to resume from (None: rebuild). Before this applier has caught up,
        the file says it is not caught up: other processes read that (not ready)."""
        try:
            connection = self._connection()
        except store.ReadModelUnavailable as why:
            logger.info("read model: %s; rebuilding", why)
            return None
        if store.get_meta(connection, ORIGIN_META) != origin:
            logger.info("read model: made from another database than this one; rebuilding")
            return None
        raw = store.get_meta(connection, "resume_token")
        if raw and not caught_up:
            with store.transaction(connection):
                store.set_meta(connection, CAUGHT_UP_AT, None)
        return bson.decode(raw) if raw else None

    def _apply(
        self,
        changes: Sequence[Mapping[str, Any]],
        token: Mapping[str, Any] | None,
        caught_up: bool,
    ) -> None:
        connection = self._connection()
        with store.transaction(connection):
            touched = {_apply_one(connection, change) for change in changes}
            _store_position(connection, token)
            if caught_up:
                store.set_meta(connection, CAUGHT_UP_AT, time.time())
            store.mark_changed(connection, touched & set(ENTITY_COLLECTIONS))
        self._last_heartbeat = time.monotonic()

    def _heartbeat(self, token: Mapping[str, Any] | None, caught_up: bool) -> None:
        """While idle: say the applier is alive (and caught up, once it is), at most once
        a second."""
        now = time.monotonic()
        if now - self._last_heartbeat < HEARTBEAT_S:
            return
        connection = self._connection()
        with store.transaction(connection):
            _store_position(connection, token)
            if caught_up:
                store.set_meta(connection, CAUGHT_UP_AT, time.time())
        self._last_heartbeat = now

    # -- rebuild ----------------------------------------------------------------------------

    async def rebuild(self, stream: AsyncChangeStream[dict[str, Any]], origin: str) -> None:
        """A new file from a snapshot of every entity, continuing from `stream`'s start."""
        started = time.monotonic()
        building = self.path.with_name(self.path.name + ".building")
        connection = await self._sql(lambda: store.create(building))
        try:
            total = 0
            for collection in ENTITY_COLLECTIONS:
                cursor = self.db[collection].find({}, batch_size=SNAPSHOT_BATCH)
                batch: list[dict[str, Any]] = []
                async for doc in cursor:
                    batch.append(doc)
                    if len(batch) >= SNAPSHOT_BATCH:
                        chunk, batch = batch, []
                        total += await self._sql(
                            functools.partial(_insert, connection, collection, chunk)
                        )
                if batch:
                    total += await self._sql(
                        functools.partial(_insert, connection, collection, batch)
                    )
            await self._snapshot_redirects(connection)
            token = stream.resume_token
            await self._sql(lambda: _finish_build(connection, token, origin))
        finally:
            await self._sql(connection.close)
        await self._sql(lambda: self._install(building))
        self.rebuilds += 1
        self.last_rebuild_s = time.monotonic() - started
        logger.info("read model rebuilt: %d entities in %.1f s", total, self.last_rebuild_s)

    async def _snapshot_redirects(self, connection: sqlite3.Connection) -> None:
        """Copy `entity_redirects` into the file being built (merged-away ids)."""
        cursor = self.db[ENTITY_REDIRECTS].find({}, batch_size=SNAPSHOT_BATCH)
        while batch := await cursor.to_list(SNAPSHOT_BATCH):
            await self._sql(functools.partial(_insert_redirects, connection, batch))

    def _install(self, building: Path) -> None:
        self._forget_writer()
        for suffix in ("-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        building.replace(self.path)
        for suffix in ("-wal", "-shm"):
            building.with_name(building.name + suffix).unlink(missing_ok=True)


def _insert(connection: sqlite3.Connection, collection: str, docs: list[dict[str, Any]]) -> int:
    with store.transaction(connection):
        return store.insert_many(connection, (project(collection, doc) for doc in docs))


def _insert_redirects(connection: sqlite3.Connection, docs: list[dict[str, Any]]) -> None:
    with store.transaction(connection):
        redirects.insert_many(connection, docs)


def _finish_build(
    connection: sqlite3.Connection, token: Mapping[str, Any] | None, origin: str
) -> None:
    with store.transaction(connection):
        _store_position(connection, token)
        store.set_meta(connection, ORIGIN_META, origin)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("ANALYZE")


def _store_position(connection: sqlite3.Connection, token: Mapping[str, Any] | None) -> None:
    store.set_meta(connection, "resume_token", bson.encode(token) if token else None)
    store.set_meta(connection, "applied_at", time.time())


def _apply_one(connection: sqlite3.Connection, change: Mapping[str, Any]) -> str:
    """Apply one change event; the collection it concerned."""
    collection: str = change["ns"]["coll"]
    operation = change["operationType"]
    key = change.get("documentKey", {}).get("_id")
    if collection == ENTITY_REDIRECTS:
        # Counted as a change of the entities it redirects to (response caches).
        return redirects.apply_change(connection, change) or collection
    if collection == READ_BARRIERS:
        n = barrier_value(change)
        if n is not None and key is not None:
            store.set_meta(connection, BARRIER_PREFIX + str(key), n)
    elif operation == "delete" or change.get("fullDocument") is None:
        # Deleted, or gone again by the time the update was looked up.
        if key is not None:
            store.delete(connection, collection, str(key))
    elif operation in ("insert", "update", "replace"):
        store.upsert(connection, project(collection, change["fullDocument"]))
    return collection


def barrier_value(change: Mapping[str, Any]) -> Any:
    """The counter a read-barrier change set, from the change itself: the document an
    update looks up is the one of the moment the change is read, whose later counter
    would be recorded before the writes made ahead of it are applied."""
    if change["operationType"] == "update":
        return change.get("updateDescription", {}).get("updatedFields", {}).get("n")
    doc = change.get("fullDocument")
    return None if doc is None else doc.get("n")


def _namespace(change: Mapping[str, Any]) -> str:
    ns = change.get("ns") or {}
    return ".".join(str(part) for part in (ns.get("db"), ns.get("coll")) if part) or "the stream"
