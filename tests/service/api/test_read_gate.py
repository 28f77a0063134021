"""Public reads take turns and let writes go first (service.api.read_gate); nothing else
waits for them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import service.partner.service
from schema.models import Listing
from schema.taxonomy import EntityType
from service.api import read_gate
from service.api.metrics import Metrics
from service.api.read_gate import ReadGate, ReadGateStats
from service.ingest.pipeline import ingest
from service.settings import ReadConsistency
from service.storage.collections import Database
from tests.conftest import client_for, settings_for
from tests.service.partner.test_partner import UPSERT, bearer, community, partner_key

NESTED = """
query($first: Int!) {
  communities(first: $first) {
    totalCount
    edges { node { slug events(first: 3) { edges { node { title } } } } }
  }
}
"""


async def test_concurrent_public_reads_execute_one_at_a_time_and_all_answer(
    mongo_uri: str, demo_db: Database
) -> None:
    settings = settings_for(
        mongo_uri,
        demo_db.name,
        read_consistency=ReadConsistency.SESSION,
        public_read_concurrency=1,
    )
    metrics = Metrics()
    async for http in client_for(settings, metrics):
        # Distinct variables and no-cache: every request executes.
        requests = [
            http.post(
                "/graphql",
                json={"query": NESTED, "variables": {"first": 5 + n}},
                headers={"cache-control": "no-cache"},
            )
            for n in range(6)
        ]
        answers: list[httpx.Response] = await asyncio.gather(*requests)
        assert [a.status_code for a in answers] == [200] * 6
        for n, answer in enumerate(answers):
            edges = answer.json()["data"]["communities"]["edges"]
            assert len(edges) == 5 + n
        stats = metrics.public_reads
        assert stats.peak == 1
        assert stats.executing == 0
        assert stats.waited >= 1  # they did arrive together, and took turns
        exposition = (await http.get("/metrics")).text
        assert "guildgraph_public_reads_limit 1" in exposition


async def test_no_public_read_begins_while_a_write_executes() -> None:
    stats = ReadGateStats()
    gate = ReadGate(2, stats)
    began = asyncio.Event()

    async def read() -> None:
        async with gate.slot():
            began.set()

    async with gate.write():
        reader = asyncio.create_task(read())
        await asyncio.sleep(0)  # the read runs up to its wait
        assert stats.held_for_writes == 1
        assert not began.is_set()
    await reader
    assert began.is_set()
    assert stats.executing == 0


async def test_a_read_held_for_writes_begins_after_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(read_gate, "WRITES_FIRST_MAX_WAIT_S", 0.01)
    gate = ReadGate(1, ReadGateStats())
    began = asyncio.Event()

    async def read() -> None:
        async with gate.slot():
            began.set()

    async with gate.write():
        await read()  # a stream of writes slows reads down, never stops them
        assert began.is_set()


def registry_community(n: int) -> Listing:
    payload = {"name": {"en": f"Registry guild {n}"}, "kind": "professional", "form": "association"}
    return Listing(
        entity=EntityType.COMMUNITY, source_id="registry", external_id=f"r{n}", payload=payload
    )


class NoticedHold(ReadGateStats):
    """Stats that say when a read was first held for a write."""

    def __init__(self) -> None:
        super().__init__()
        self.held = asyncio.Event()

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "held_for_writes" and value:
            self.held.set()


async def test_a_partner_request_holds_public_reads_of_its_process(
    mongo_uri: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its own database: the partner's listings must not reach the shared demo one.
    await ingest(db, [registry_community(n) for n in range(3)])
    settings = settings_for(mongo_uri, db.name, read_consistency=ReadConsistency.SESSION)
    metrics = Metrics()
    metrics.public_reads = stats = NoticedHold()
    key = await partner_key(db)
    writing, release = asyncio.Event(), asyncio.Event()
    real = service.partner.service.ingest

    async def held(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(service.partner.service, "ingest", held)
    listings = [{"externalId": f"p{n}", "community": community(f"Guild {n}")} for n in range(5)]
    async for http in client_for(settings, metrics):
        write = asyncio.create_task(
            http.post(
                "/graphql",
                json={"query": UPSERT, "variables": {"input": {"listings": listings}}},
                headers=bearer(key),
            )
        )
        await writing.wait()
        read = asyncio.create_task(
            http.post("/graphql", json={"query": NESTED, "variables": {"first": 3}})
        )
        # The read travels to the gate, and stops there (a failure, not a hang, if not).
        async with asyncio.timeout(30):
            await stats.held.wait()
        assert not read.done()
        release.set()
        answers = [await write, await read]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json()["data"]["upsertListings"]["created"] == 5
        assert len(answers[1].json()["data"]["communities"]["edges"]) == 3
        exposition = (await http.get("/metrics")).text
        assert "guildgraph_public_reads_held_for_writes_total 1" in exposition
