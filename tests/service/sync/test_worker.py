"""Workers and leases: queued runs are claimed, renewed, fenced, cancelled, handed back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.framework.contract import Fetcher
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.storage.collections import COMMUNITIES, LISTINGS, SOURCES, SYNC_RUNS, Database
from service.sync.engine import execute
from service.sync.progress import Progress
from service.sync.runs import (
    LeaseLost,
    Mode,
    RunActive,
    RunStatus,
    claim_next,
    claim_run,
    enqueue_run,
    finish,
    get_run,
    renew,
    request_cancel,
)
from service.sync.sources import SourceSpec, add_source, get_source, save_stream_state
from service.sync.worker import Worker
from tests.connectors.loopback import Loopback, loopback_server
from tests.service.registries import json_registry
from tests.service.sync.test_engine import Registry, _register

TTL = timedelta(seconds=30)


@pytest.fixture
async def registry() -> AsyncIterator[tuple[Registry, Loopback]]:
    source = Registry()
    async with loopback_server({"/registry": source.handle}) as server:
        yield source, server


def _policy() -> FetchPolicy:
    return FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None, max_attempts=1)


@contextlib.asynccontextmanager
async def _fetcher() -> AsyncIterator[Fetcher]:
    async with SafeFetcher(_policy()) as fetcher:
        yield fetcher


async def _names(db: Database) -> list[str]:
    return sorted([doc["name"]["ru"] async for doc in db[COMMUNITIES].find({}, {"name": 1})])


async def test_a_worker_runs_a_queued_run_to_its_end(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    source, server = registry
    await _register(db, server)
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    assert queued["status"] == RunStatus.QUEUED

    worker = Worker(db, _fetcher, lease_ttl=TTL)
    assert await worker.run_one() is True
    assert await worker.run_one() is False  # nothing else queued

    run = await get_run(db, queued["_id"])
    assert run is not None
    assert run["status"] == RunStatus.SUCCEEDED
    assert run["counts"]["created"] == 10
    assert run["progress"]["pages"] >= 4  # 10 records, 3 per page, and the empty last page
    assert run["progress"]["bytes"] > 0
    assert "active" not in run
    assert "lease" not in run
    assert await _names(db) == sorted(r["name"] for r in source.records)


async def test_one_active_run_per_source_whoever_asks(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server)
    results = await asyncio.gather(
        *(enqueue_run(db, "nko-registry", Mode.INCREMENTAL, "api") for _ in range(8)),
        return_exceptions=True,
    )
    queued = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, RunActive)]
    assert (len(queued), len(refused)) == (1, 7)
    assert await db[SYNC_RUNS].count_documents({}) == 1


async def test_a_stale_worker_is_fenced_out_after_a_takeover(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server)
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    first = await claim_next(db, "worker-a", timedelta(seconds=-1))  # expires at once
    assert first is not None
    stale, _ = first
    second = await claim_next(db, "worker-b", TTL)
    assert second is not None
    fresh, run = second
    assert run["_id"] == queued["_id"]
    assert fresh.fence > stale.fence

    # Every late write of the stale holder is refused and changes nothing.
    before = await get_source(db, "nko-registry")
    assert not await save_stream_state(
        db, "nko-registry", "registry", {"page": 99}, complete=False, fence=stale.fence
    )
    with pytest.raises(LeaseLost):
        await renew(db, stale, TTL)
    with pytest.raises(LeaseLost):
        await finish(db, stale, RunStatus.FAILED, {})
    assert await get_source(db, "nko-registry") == before
    current = await get_run(db, queued["_id"])
    assert current is not None
    assert current["status"] == RunStatus.RUNNING
    assert current["lease"]["owner"] == "worker-b"


async def test_a_live_lease_is_not_taken(db: Database, registry: tuple[Registry, Loopback]) -> None:
    _, server = registry
    await _register(db, server)
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    assert await claim_next(db, "worker-a", TTL) is not None
    assert await claim_next(db, "worker-b", TTL) is None
    assert await claim_run(db, queued["_id"], "worker-b", TTL) is None


async def test_a_cancelled_run_stops_at_its_next_checkpoint_and_keeps_the_last_good_data(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    source, server = registry
    await _register(db, server)
    worker = Worker(db, _fetcher, lease_ttl=TTL)
    await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    await worker.run_one()
    good = await _names(db)

    source.records = source.records[:2]  # a full pass of this would withdraw 8
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    claimed = await claim_next(db, "worker-a", TTL)
    assert claimed is not None
    lease, _ = claimed
    cancelled = await request_cancel(db, queued["_id"])
    assert cancelled is not None
    assert cancelled["cancel_requested"] is True

    async with _fetcher() as fetcher:
        run = await execute(db, lease, fetcher, ttl=TTL)

    assert run["status"] == RunStatus.CANCELLED
    assert run["counts"]["withdrawn"] == 0
    assert await _names(db) == good
    assert await db[LISTINGS].count_documents({"state": "withdrawn"}) == 0


async def test_a_queued_run_is_cancelled_at_once(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server)
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    cancelled = await request_cancel(db, queued["_id"])
    assert cancelled is not None
    assert cancelled["status"] == RunStatus.CANCELLED
    assert "active" not in cancelled
    # The source is free again.
    assert (await enqueue_run(db, "nko-registry", Mode.FULL, "api"))["status"] == "queued"


async def test_an_interrupted_run_goes_back_to_the_queue_and_resumes_elsewhere(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    source, server = registry
    await _register(db, server)
    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    claimed = await claim_next(db, "worker-a", TTL)
    assert claimed is not None
    lease, _ = claimed
    stop = asyncio.Event()

    def stop_after_first_checkpoint(progress: Progress) -> None:
        if progress.checkpoints >= 1:
            stop.set()  # what SIGTERM does to the worker

    async with _fetcher() as fetcher:
        handed_back = await execute(
            db, lease, fetcher, ttl=TTL, watch=stop_after_first_checkpoint, stop=stop
        )
    assert handed_back["status"] == RunStatus.QUEUED
    assert "lease" not in handed_back
    assert handed_back["active"] is True
    assert 0 < await db[COMMUNITIES].count_documents({}) < 10
    checkpoint = (await get_source(db, "nko-registry"))["sync"]["streams"]
    assert checkpoint  # the position reached is stored

    worker = Worker(db, _fetcher, lease_ttl=TTL)
    assert await worker.run_one() is True
    run = await get_run(db, queued["_id"])
    assert run is not None
    assert run["status"] == RunStatus.SUCCEEDED
    assert run["attempts"] == 2
    assert await _names(db) == sorted(r["name"] for r in source.records)
    assert await db[LISTINGS].count_documents({}) == 10


async def test_a_worker_stops_within_its_bound_and_hands_its_run_back(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server)
    started = asyncio.Event()
    release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slow_fetcher() -> AsyncIterator[Fetcher]:
        # A source that never answers while the worker is asked to stop.
        started.set()
        await release.wait()
        async with _fetcher() as fetcher:
            yield fetcher

    queued = await enqueue_run(db, "nko-registry", Mode.FULL, "api")
    worker = Worker(db, slow_fetcher, lease_ttl=TTL, poll_s=0.05)
    worker.start()
    await started.wait()
    await worker.stop(timeout_s=0.2)
    run = await get_run(db, queued["_id"])
    assert run is not None
    # Handed back at once (not left until its lease expires), nothing written.
    assert run["status"] == RunStatus.QUEUED
    assert "lease" not in run
    assert run["active"] is True
    assert await db[COMMUNITIES].count_documents({}) == 0
    assert await db[SOURCES].count_documents({"sync.streams": {}}) == 1


async def test_a_run_records_the_total_its_source_announces(db: Database) -> None:
    records = [{"ogrn": f"77{i:011d}", "name": f"Союз {i}", "opf": "НП"} for i in range(7)]

    def handle(request: Request) -> Response:
        page = int(request.query_params.get("page", "1"))
        items = records[(page - 1) * 3 : page * 3]
        return JSONResponse({"items": items, "total": len(records)})

    async with loopback_server({"/registry": handle}) as server:
        url = server.url("/registry")
        spec = json_registry(
            "counted-registry", "Реестр с итогом", url, page_size=3, total_path="total"
        )
        await add_source(db, spec)
        queued = await enqueue_run(db, "counted-registry", Mode.FULL, "api")
        assert await Worker(db, _fetcher, lease_ttl=TTL).run_one()

    run = await get_run(db, queued["_id"])
    assert run is not None
    assert run["progress"]["estimated_total"] == 7
    assert run["counts"]["fetched"] == 7


async def test_workers_take_runs_of_higher_priority_sources_first(db: Database) -> None:
    for source_id, priority in (("routine", 100), ("urgent", 900), ("backlog", 10)):
        spec = SourceSpec(
            id=source_id,
            name=source_id,
            family="platform",
            kind="ics",
            config={"url": f"https://example.org/{source_id}.ics"},
            priority=priority,
        )
        await add_source(db, spec)
        await enqueue_run(db, source_id, Mode.INCREMENTAL, "api")
    order = []
    while (claimed := await claim_next(db, "worker-a", TTL)) is not None:
        order.append(claimed[0].source_id)
    assert order == ["urgent", "routine", "backlog"]
