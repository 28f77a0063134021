"""A batch's writes in one transaction where the server has them, and correct without."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest import apply
from service.ingest.pipeline import Outcome, ingest
from service.storage import transactions
from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES, LISTINGS, Database
from service.storage.setup import ensure_collections


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append({"name": event.command_name, **dict(event.command)})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return


def community(external_id: str, source_id: str = "src") -> Listing:
    payload = {
        "name": {"en": f"Guild {external_id}"},
        "kind": "professional",
        "form": "association",
    }
    return Listing(
        entity=EntityType.COMMUNITY, source_id=source_id, external_id=external_id, payload=payload
    )


def test_transactions_are_read_from_the_hello_reply() -> None:
    assert transactions.has_transactions({"setName": "rs0", "logicalSessionTimeoutMinutes": 30})
    assert transactions.has_transactions({"msg": "isdbgrid", "logicalSessionTimeoutMinutes": 30})
    assert not transactions.has_transactions({"logicalSessionTimeoutMinutes": 30})  # standalone
    assert not transactions.has_transactions({"setName": "rs0"})  # no sessions


@pytest.fixture
async def watched(mongo_uri: str, db: Database) -> AsyncIterator[tuple[Database, Commands]]:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = mongo_client(
        mongo_uri, embedded=True, event_listeners=[commands]
    )
    try:
        yield client[db.name], commands
    finally:
        await client.close()


async def test_a_batch_is_one_durable_commit(watched: tuple[Database, Commands]) -> None:
    db, commands = watched
    results = await ingest(db, [community("a"), community("b"), community("c")])
    assert [r.outcome for r in results] == [Outcome.CREATED] * 3

    writes = [c for c in commands.sent if c["name"] in ("insert", "update", "delete")]
    commits = [c for c in commands.sent if c["name"] == "commitTransaction"]
    assert writes
    assert all("txnNumber" in c and "writeConcern" not in c for c in writes)
    assert len(commits) == 1
    assert commits[0]["writeConcern"] == {"w": 1, "j": True}  # the client's: durable


async def test_a_batch_that_fails_half_way_leaves_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(apply, "_record_applied", broken)
    with pytest.raises(RuntimeError):
        await ingest(db, [community("a")])
    # The entity was written before the listing: rolled back with it.
    assert await db[COMMUNITIES].count_documents({}) == 0
    assert await db[LISTINGS].count_documents({}) == 0


async def _through_own_client(
    mongo_uri: str, db: Database, *, with_transactions: bool
) -> AsyncIterator[Database]:
    """The test database through a client of its own, told the server has transactions
    or not (a standalone MongoDB has none)."""
    client: AsyncMongoClient[dict[str, Any]] = mongo_client(mongo_uri, embedded=True)
    if not with_transactions:
        transactions._support[client] = False
    try:
        await ensure_collections(client[db.name])
        yield client[db.name]
    finally:
        await client.close()


@pytest.fixture(params=[True, False], ids=["transactions", "no-transactions"])
async def either(
    request: pytest.FixtureRequest, mongo_uri: str, db: Database
) -> AsyncIterator[Database]:
    async for database in _through_own_client(mongo_uri, db, with_transactions=request.param):
        yield database


@pytest.fixture
async def standalone(mongo_uri: str, db: Database) -> AsyncIterator[Database]:
    async for database in _through_own_client(mongo_uri, db, with_transactions=False):
        yield database


async def test_racing_batches_with_the_same_new_listings_write_each_once(either: Database) -> None:
    db = either
    batch = [community(f"x{i}") for i in range(20)]
    first, second = await asyncio.gather(ingest(db, batch), ingest(db, batch))

    for one, other in zip(first, second, strict=True):
        assert one.entity_id == other.entity_id
        assert {one.outcome, other.outcome} <= {Outcome.CREATED, Outcome.UNCHANGED}
    assert await db[COMMUNITIES].count_documents({}) == 20
    assert await db[LISTINGS].count_documents({"state": "applied"}) == 20
    async for doc in db[COMMUNITIES].find({}):
        assert len(doc["sources"]) == 1


async def test_an_entity_written_without_its_listing_is_merged_not_inserted_again(
    standalone: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash between the two writes on a server without transactions: the entity is
    # there, its listing is not. The retry finds the entity and merges into it.
    db = standalone
    recorded = apply._record_applied

    async def crash(*_args: Any) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(apply, "_record_applied", crash)
    with pytest.raises(RuntimeError):
        await ingest(db, [community("a")])
    assert await db[COMMUNITIES].count_documents({}) == 1
    monkeypatch.setattr(apply, "_record_applied", recorded)

    (result,) = await ingest(db, [community("a")])
    assert result.outcome is Outcome.CREATED
    assert await db[COMMUNITIES].count_documents({}) == 1
    assert await db[LISTINGS].count_documents({"state": "applied"}) == 1
