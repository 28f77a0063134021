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
stored token; an unreadable or deleted file is rebuilt. Readers keep answering
from the file they have open throughout.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import bson
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure, PyMongoError

from service.read_model import store
from service.read_model.rows import project
from service.storage.collections import READ_BARRIERS, Database

logger = logging.getLogger("guildgraph.read_model")

T = TypeVar("T")
ENTITY_COLLECTIONS = store.COLLECTIONS
WATCHED = (*ENTITY_COLLECTIONS, READ_BARRIERS)
# Changes applied per transaction at most; a burst is applied in a few transactions.
MAX_BATCH = 500
MAX_AWAIT_MS = 200
SNAPSHOT_BATCH = 1000
# The stored resume token cannot be used: the server no longer has its history
# (MongoDB: 280, 286), or does not read it as a token (260; SecantusDB: 9).
HISTORY_LOST = frozenset({9, 260, 280, 286})
RETRY_MAX_S = 10.0
HEARTBEAT_S = 1.0
BARRIER_PREFIX = "barrier:"


class HistoryLost(Exception):
    """The stored resume token is too old: the read model must be rebuilt."""


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

    async def _sql(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def run(self) -> None:
        """Apply changes until cancelled; every failure is logged and retried."""
        failures = 0
        try:
            while True:
                try:
                    await self._follow()
                except HistoryLost:
                    logger.warning("read model: change history lost; rebuilding")
                    await self._sql(self._discard)
                except (PyMongoError, store.ReadModelUnavailable, sqlite3.DatabaseError) as error:
                    failures += 1
                    wait = min(RETRY_MAX_S, 0.25 * 2**failures)
                    logger.warning("read model: %s; retrying in %.1f s", error, wait)
                    await self._sql(self._forget_writer)
                    await asyncio.sleep(wait)
                else:
                    failures = 0
        finally:
            await self._sql(self._forget_writer)
            self._thread.shutdown(wait=False)

    async def _follow(self) -> None:
        token = await self._sql(self._stored_token)
        if token is None:
            stream = await self._open(None)
            try:
                await self.rebuild(stream)
                await self._drain(stream)
            finally:
                await stream.close()
            return
        try:
            stream = await self._open(token)
        except OperationFailure as error:
            if error.code in HISTORY_LOST:
                raise HistoryLost from error
            raise
        try:
            await self._drain(stream)
        finally:
            await stream.close()

    async def _open(self, token: Mapping[str, Any] | None) -> AsyncChangeStream[dict[str, Any]]:
        pipeline = [{"$match": {"ns.coll": {"$in": list(WATCHED)}}}]
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
                    raise HistoryLost from error
                raise
            if change is not None:
                pending.append(change)
            # Commit when the batch the server sent is used up (private, pinned by the
            # lock file: PyMongo has no public "anything buffered?"), or it is large.
            buffered = change is not None and stream._cursor._has_next()
            if pending and (not buffered or len(pending) >= MAX_BATCH):
                token = stream.resume_token
                batch, pending = pending, []
                await self._sql(functools.partial(self._apply, batch, token))
            elif change is None:
                if not self.caught_up.is_set():
                    logger.info("read model caught up")
                self.caught_up.set()
                await self._sql(lambda: self._heartbeat(stream.resume_token))

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

    def _stored_token(self) -> Mapping[str, Any] | None:
        try:
            connection = self._connection()
        except store.ReadModelUnavailable as why:
            logger.info("read model: %s; rebuilding", why)
            return None
        raw = store.get_meta(connection, "resume_token")
        return bson.decode(raw) if raw else None

    def _apply(self, changes: Sequence[Mapping[str, Any]], token: Mapping[str, Any] | None) -> None:
        connection = self._connection()
        with store.transaction(connection):
            touched = {_apply_one(connection, change) for change in changes}
            _store_position(connection, token)
            store.mark_changed(connection, touched & set(ENTITY_COLLECTIONS))
        self._last_heartbeat = time.monotonic()

    def _heartbeat(self, token: Mapping[str, Any] | None) -> None:
        """While idle: say the applier is alive and caught up, at most once a second."""
        now = time.monotonic()
        if now - self._last_heartbeat < HEARTBEAT_S:
            return
        connection = self._connection()
        with store.transaction(connection):
            _store_position(connection, token)
            store.set_meta(connection, "caught_up_at", time.time())
        self._last_heartbeat = now

    # -- rebuild ----------------------------------------------------------------------------

    async def rebuild(self, stream: AsyncChangeStream[dict[str, Any]]) -> None:
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
            token = stream.resume_token
            await self._sql(lambda: _finish_build(connection, token))
        finally:
            await self._sql(connection.close)
        await self._sql(lambda: self._install(building))
        self.rebuilds += 1
        self.last_rebuild_s = time.monotonic() - started
        logger.info("read model rebuilt: %d entities in %.1f s", total, self.last_rebuild_s)

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


def _finish_build(connection: sqlite3.Connection, token: Mapping[str, Any] | None) -> None:
    with store.transaction(connection):
        _store_position(connection, token)
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
    if collection == READ_BARRIERS:
        doc = change.get("fullDocument")
        if doc is not None:
            store.set_meta(connection, BARRIER_PREFIX + str(doc["_id"]), doc["n"])
    elif operation == "delete" or change.get("fullDocument") is None:
        # Deleted, or gone again by the time the update was looked up.
        if key is not None:
            store.delete(connection, collection, str(key))
    elif operation in ("insert", "update", "replace"):
        store.upsert(connection, project(collection, change["fullDocument"]))
    return collection
