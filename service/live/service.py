"""Change feeds for subscriptions, from MongoDB change streams (work across instances).

`LiveService` is built per request like the other services; over WebSocket it is
bound to the instance's `LiveHubs`, so every subscription of the instance shares
one change stream per kind of feed (see service.live.changes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from graphql import GraphQLError

from schema.documents import RunDoc
from schema.errors import AccessDenied, UserInputError
from schema.inputs import ListingChangeFilter
from schema.ports.live import LiveChange
from schema.ports.reads import DataAccess
from schema.principal import Principal, Role
from service.live.changes import (
    DELETE,
    INSERT,
    REPLACE,
    UPDATE,
    Change,
    ChangeHub,
    FeedClosed,
    Listener,
)
from service.live.listing_changes import ListingSelection, listed
from service.read.reader import GraphReader
from service.read_model.store import Readers
from service.settings import Settings
from service.storage import stored
from service.storage.collections import (
    API_KEYS,
    COMMUNITIES,
    EVENTS,
    SYNC_RUNS,
    TOMBSTONES,
    Database,
)
from service.sync.runs import TERMINAL

LISTING_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    COMMUNITIES: (INSERT, UPDATE, REPLACE),
    EVENTS: (INSERT, UPDATE, REPLACE),
    # Deletes carry no content to filter on: withdrawals come as tombstones.
    TOMBSTONES: (INSERT,),
}

RUN_OPERATIONS: Mapping[str, tuple[str, ...]] = {SYNC_RUNS: (INSERT, UPDATE, REPLACE, DELETE)}

KEY_OPERATIONS: Mapping[str, tuple[str, ...]] = {API_KEYS: (UPDATE, REPLACE, DELETE)}


@dataclass(frozen=True)
class LiveHubs:
    """An instance's shared change streams, one per kind of feed."""

    listings: ChangeHub = field(default_factory=lambda: ChangeHub(LISTING_OPERATIONS))
    runs: ChangeHub = field(default_factory=lambda: ChangeHub(RUN_OPERATIONS))
    keys: ChangeHub = field(default_factory=lambda: ChangeHub(KEY_OPERATIONS))

    async def stop(self) -> None:
        for hub in (self.listings, self.runs, self.keys):
            await hub.stop()


class FeedInterrupted(GraphQLError):
    """Changes may have been missed (the subscriber fell behind, or the stream restarted)."""

    def __init__(self) -> None:
        super().__init__(
            "the change feed was interrupted and changes may have been missed; subscribe again",
            extensions={"code": "FEED_INTERRUPTED"},
        )


def _run_id(raw: str) -> ObjectId:
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise UserInputError("'runId' is not a sync run id", argument="runId") from None


class LiveService:
    def __init__(
        self,
        db: Database,
        principal: Principal,
        settings: Settings,
        readers: Readers,
        hubs: LiveHubs | None = None,
    ) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
        self._readers = readers
        self._hubs = hubs

    def with_hubs(self, hubs: LiveHubs) -> LiveService:
        """The same service reading the instance's shared streams."""
        return LiveService(self._db, self._principal, self._settings, self._readers, hubs)

    @property
    def database(self) -> Database:
        return self._db

    @property
    def subscriptions_per_key(self) -> int:
        return self._settings.subscriptions_per_key

    def reader(self, now: datetime) -> DataAccess:
        return GraphReader(self._readers.connection, now)

    async def _listen(
        self,
        shared: Callable[[LiveHubs], ChangeHub],
        operations: Mapping[str, tuple[str, ...]],
        match: Callable[[Change], bool],
    ) -> Listener:
        # Without the instance's hubs (a context not built for a socket) the
        # subscription gets a stream of its own, closed with it.
        hub = shared(self._hubs) if self._hubs is not None else ChangeHub(operations)
        return await hub.listen(self._db, match)

    async def listing_changes(
        self, filter: ListingChangeFilter | None
    ) -> AsyncGenerator[LiveChange, None]:
        selection = ListingSelection.of(filter)
        listener = await self._listen(
            lambda hubs: hubs.listings, LISTING_OPERATIONS, selection.admits
        )
        return self._listing_feed(listener, selection)

    async def _listing_feed(
        self, listener: Listener, selection: ListingSelection
    ) -> AsyncGenerator[LiveChange, None]:
        try:
            while True:
                try:
                    change = await listener.get()
                except FeedClosed:
                    return
                if change is None:
                    raise FeedInterrupted
                found = listed(change)
                if found is None:
                    continue
                if selection.industries is not None and found.industries is None:
                    industries = await self._organizer_industries(change, found.organizers)
                    if selection.industries.isdisjoint(industries):
                        continue
                yield found.item
        finally:
            listener.close()

    async def _organizer_industries(
        self, change: Change, organizers: tuple[ObjectId, ...]
    ) -> frozenset[str]:
        # One read per change however many subscribers of the instance ask for it.
        pending = change.memo.get("organizer_industries")
        if pending is None:
            pending = asyncio.ensure_future(self._industries_of(organizers))
            change.memo["organizer_industries"] = pending
        industries: frozenset[str] = await asyncio.shield(pending)
        return industries

    async def _industries_of(self, organizers: tuple[ObjectId, ...]) -> frozenset[str]:
        if not organizers:
            return frozenset()
        cursor = self._db[COMMUNITIES].find({"_id": {"$in": list(organizers)}}, {"industries": 1})
        return frozenset([i async for doc in cursor for i in doc.get("industries") or ()])

    async def run_progress(self, run_id: str) -> AsyncGenerator[RunDoc, None]:
        # The role first: a refusal must not tell whether the run exists.
        if self._principal.role is not Role.ADMIN:
            raise AccessDenied
        key = _run_id(run_id)
        # Listen before reading, so no change falls between the read and the stream.
        listener = await self._listen(
            lambda hubs: hubs.runs, RUN_OPERATIONS, lambda c: c.key == key
        )
        try:
            doc = stored.run.one(await self._db[SYNC_RUNS].find_one({"_id": key}))
        except BaseException:
            listener.close()
            raise
        if doc is None:
            listener.close()
            raise UserInputError("no sync run has this id", argument="runId")
        return self._run_feed(listener, key, doc)

    async def _run_feed(
        self, listener: Listener, key: ObjectId, doc: RunDoc
    ) -> AsyncGenerator[RunDoc, None]:
        try:
            yield doc
            while doc["status"] not in TERMINAL:
                try:
                    await listener.get()
                except FeedClosed:
                    return
                # Every queued change is covered by the read below; a change read
                # from the stream may be older than the document already sent.
                listener.drain()
                current = stored.run.one(await self._db[SYNC_RUNS].find_one({"_id": key}))
                if current is None:
                    return
                if current != doc:
                    doc = current
                    yield doc
        finally:
            listener.close()
