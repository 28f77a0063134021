"""Two `guildgraph serve` processes on loopback sharing one database.

Each runs its own worker. A schedule due every two seconds produces one run per
due time and never two at once; killing the instance whose worker holds a run
lets the other take it over when the lease expires and finish it with exactly
the source's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from websockets.asyncio.client import connect as websockets_connect
from websockets.typing import Subprotocol

from schema.principal import Role
from service.auth.keys import create_key
from service.storage.collections import COMMUNITIES, LISTINGS, SOURCES, SYNC_RUNS, Database
from service.sync.runs import Mode, enqueue_run
from service.sync.sources import SourceSpec, add_source
from tests.conftest import REPO, TEST_KEY_SECRET
from tests.connectors.loopback import Loopback, loopback_server
from tests.service.registries import json_registry

RECORDS = 60
PAGE_SIZE = 10
LEASE_TTL_S = 2
WAIT_S = 90  # a safety net only: every wait below ends on the awaited event
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@dataclass
class Instance:
    process: asyncio.subprocess.Process
    port: int
    log: list[str]
    drained: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _start_instance(mongo_uri: str, database: str, lease_ttl_s: float) -> Instance:
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "GUILDGRAPH_DATABASE": database,
        "GUILDGRAPH_KEY_SECRET": TEST_KEY_SECRET,
        "GUILDGRAPH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "GUILDGRAPH_WORKER_POLL_S": "0.2",
        "GUILDGRAPH_LEASE_TTL_S": str(lease_ttl_s),
        "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": "5",
        "GUILDGRAPH_RATE_LIMIT_PER_ADDRESS": "0",
        # One API process per instance: the lease holder's pid is the instance's.
        "GUILDGRAPH_WORKERS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli.main",
        "serve",
        "--port",
        "0",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: list[str] = []
    async with asyncio.timeout(WAIT_S):
        while True:
            line = (await process.stderr.readline()).decode(errors="replace")
            if not line:
                raise AssertionError("instance exited before listening:\n" + "".join(log))
            log.append(line)
            match = _LISTENING.search(line)
            if match:
                break
    instance = Instance(process, int(match.group(1)), log)
    instance.drained = asyncio.get_running_loop().create_task(_drain(process, log))
    return instance


async def _drain(process: asyncio.subprocess.Process, log: list[str]) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        log.append(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def _instances(
    mongo_uri: str, database: str, lease_ttl_s: float = LEASE_TTL_S
) -> AsyncIterator[list[Instance]]:
    instances = await asyncio.gather(
        *(_start_instance(mongo_uri, database, lease_ttl_s) for _ in range(2))
    )
    try:
        yield list(instances)
    finally:
        for instance in instances:
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in instances:
            async with asyncio.timeout(WAIT_S):
                await instance.process.wait()
                if instance.drained is not None:
                    await instance.drained  # the whole log, up to its last line


async def _wait_for_runs(
    db: Database, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Wait until the source's runs satisfy `done`, woken by each change to them."""
    async with asyncio.timeout(WAIT_S):
        async with await db[SYNC_RUNS].watch() as changes:
            while True:
                runs = await db[SYNC_RUNS].find({}).sort("created_at", 1).to_list()
                if done(runs):
                    return runs
                await changes.next()


class GatedRegistry:
    """A paginated registry whose pages past the first wait for the test to open a gate."""

    def __init__(self) -> None:
        self.records = [
            {"ogrn": f"5{i:012d}", "name": f"Кластерная ассоциация {i}", "opf": "НП"}
            for i in range(RECORDS)
        ]
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def handle(self, request: Request) -> Response:
        page = int(request.query_params.get("page", "1"))
        if page > 1 and not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(WAIT_S)
        start = (page - 1) * PAGE_SIZE
        return JSONResponse({"items": self.records[start : start + PAGE_SIZE]})


@pytest.fixture
async def registry() -> AsyncIterator[tuple[GatedRegistry, Loopback]]:
    source = GatedRegistry()
    async with loopback_server({"/registry": source.handle}) as server:
        yield source, server
        source.gate.set()


async def _register(db: Database, server: Loopback, schedule: str | None) -> None:
    url = server.url("/registry")
    name = "Реестр кластерных ассоциаций"
    spec = json_registry("cluster-assoc", name, url, page_size=PAGE_SIZE, schedule=schedule)
    await add_source(db, spec)


async def test_a_schedule_makes_one_run_per_due_time_and_never_two_at_once(
    mongo_uri: str, db: Database, registry: tuple[GatedRegistry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server, "* * * * * */2")  # every two seconds
    async with _instances(mongo_uri, db.name) as instances:

        def four_finished(runs: list[dict[str, Any]]) -> bool:
            return sum(1 for r in runs if r.get("finished_at")) >= 4

        await _wait_for_runs(db, four_finished)
        await db[SOURCES].update_one({"_id": "cluster-assoc"}, {"$set": {"enabled": False}})
        runs = await _wait_for_runs(db, lambda rs: not any(r.get("active") for r in rs))

    due_times = [r["scheduled_for"] for r in runs]
    assert len(due_times) == len(set(due_times)), "a due time produced two runs"
    assert all(r["trigger"] == "schedule" for r in runs)
    assert all(r["status"] == "succeeded" for r in runs), [r.get("errors") for r in runs]
    ordered = sorted(runs, key=lambda r: r["started_at"])
    for earlier, later in itertools.pairwise(ordered):
        assert earlier["finished_at"] <= later["started_at"], "two runs overlapped"
    assert await db[COMMUNITIES].count_documents({}) == RECORDS
    # Both stopped on SIGTERM through their lifespan (uvicorn re-raises the signal
    # once shut down, hence -SIGTERM rather than 0).
    for instance in instances:
        assert instance.process.returncode in (0, -signal.SIGTERM)
        assert any("Application shutdown complete" in line for line in instance.log)


async def test_the_other_instance_finishes_a_run_whose_worker_was_killed(
    mongo_uri: str, db: Database, registry: tuple[GatedRegistry, Loopback]
) -> None:
    source, server = registry
    await _register(db, server, None)
    source.gate.clear()  # the run stops at page 2 until the holder is dead
    async with _instances(mongo_uri, db.name) as instances:
        queued = await enqueue_run(db, "cluster-assoc", Mode.FULL, "api")
        await asyncio.to_thread(source.waiting.wait, WAIT_S)
        run = await db[SYNC_RUNS].find_one({"_id": queued["_id"]})
        assert run is not None
        holder_pid = int(run["lease"]["owner"].split(":")[1])
        victim = next(i for i in instances if i.process.pid == holder_pid)
        victim.process.kill()
        await victim.process.wait()
        assert not any("Application shutdown" in line for line in victim.log)
        source.gate.set()

        finished = await _wait_for_runs(db, lambda rs: all(r.get("finished_at") for r in rs))

    (run,) = finished
    assert run["status"] == "succeeded", run.get("errors")
    assert run["attempts"] == 2
    assert run["finished_at"] <= datetime.now(UTC)
    names = sorted([d["name"]["ru"] async for d in db[COMMUNITIES].find({}, {"name": 1})])
    assert names == sorted(r["name"] for r in source.records)
    assert await db[LISTINGS].count_documents({"source_id": "cluster-assoc"}) == RECORDS


UPSERT = """
mutation Push($input: UpsertListingsInput!) {
  upsertListings(input: $input) { results { outcome entityId } }
}
"""
SUBSCRIBE = """
subscription { listingChanges(filter: {sourceIds: ["acme-partner"]}) {
  change id entity { ... on Community { name(lang: RU) } } } }
"""


async def test_a_change_pushed_through_one_instance_reaches_a_subscriber_of_the_other(
    mongo_uri: str, db: Database
) -> None:
    await add_source(
        db, SourceSpec(id="acme-partner", name="ACME", family="partner", kind="push", config={})
    )
    key = await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, "acme-partner")

    async with _instances(mongo_uri, db.name) as (writer, reader):
        ws_url = f"ws://127.0.0.1:{reader.port}/graphql"
        async with (
            websockets_connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws,
            httpx.AsyncClient(base_url=writer.url) as http,
        ):
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE}})
            )

            async def push(name: str) -> str:
                community = {"name": {"ru": name}, "kind": "PROFESSIONAL", "form": "ASSOCIATION"}
                listing = {"externalId": "acme-1", "community": community}
                response = await http.post(
                    "/graphql",
                    json={"query": UPSERT, "variables": {"input": {"listings": [listing]}}},
                    headers={"Authorization": f"Bearer {key.key}"},
                )
                (result,) = response.json()["data"]["upsertListings"]["results"]
                assert result["outcome"] in ("CREATED", "UPDATED"), result
                entity_id: str = result["entityId"]
                return entity_id

            # The subscription is live once a change reaches it: push new versions
            # until one arrives (a change stream does not see writes before it opened).
            async with asyncio.timeout(WAIT_S):
                for attempt in itertools.count():
                    entity_id = await push(f"Гильдия {attempt}")
                    try:
                        async with asyncio.timeout(1):
                            message = json.loads(await ws.recv())
                    except TimeoutError:
                        continue
                    break

    change = message["payload"]["data"]["listingChanges"]
    assert change["id"] == entity_id
    assert change["change"] in ("CREATED", "UPDATED")
    assert change["entity"]["name"] == f"Гильдия {attempt}"


async def test_sigterm_hands_the_running_run_back_and_the_other_instance_finishes_it(
    mongo_uri: str, db: Database, registry: tuple[GatedRegistry, Loopback]
) -> None:
    source, server = registry
    await _register(db, server, None)
    source.gate.clear()  # the holder is stuck in a fetch when it is told to stop
    # Leases far longer than this test: only a hand-back lets the other instance in.
    async with _instances(mongo_uri, db.name, lease_ttl_s=3600) as instances:
        queued = await enqueue_run(db, "cluster-assoc", Mode.FULL, "api")
        await asyncio.to_thread(source.waiting.wait, WAIT_S)
        run = await db[SYNC_RUNS].find_one({"_id": queued["_id"]})
        assert run is not None
        holder_pid = int(run["lease"]["owner"].split(":")[1])
        holder = next(i for i in instances if i.process.pid == holder_pid)

        def handed_back(runs: list[dict[str, Any]]) -> bool:
            (current,) = runs
            return current["status"] == "queued" or (
                current["lease"]["owner"].split(":")[1] != str(holder_pid)
            )

        holder.process.send_signal(signal.SIGTERM)
        await _wait_for_runs(db, handed_back)
        async with asyncio.timeout(WAIT_S):
            await holder.process.wait()
        source.gate.set()
        finished = await _wait_for_runs(db, lambda rs: all(r.get("finished_at") for r in rs))

    assert holder.process.returncode in (0, -signal.SIGTERM)
    assert any("Application shutdown complete" in line for line in holder.log)
    (run,) = finished
    assert run["status"] == "succeeded", run.get("errors")
    assert run["attempts"] == 2
    names = sorted([d["name"]["ru"] async for d in db[COMMUNITIES].find({}, {"name": 1})])
    assert names == sorted(r["name"] for r in source.records)


async def test_a_separate_worker_process_runs_queued_syncs_and_stops_on_sigterm(
    mongo_uri: str, db: Database, registry: tuple[GatedRegistry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server, None)
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "GUILDGRAPH_DATABASE": db.name,
        "GUILDGRAPH_KEY_SECRET": TEST_KEY_SECRET,
        "GUILDGRAPH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "GUILDGRAPH_WORKER_POLL_S": "0.2",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli.main", "worker", cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        queued = await enqueue_run(db, "cluster-assoc", Mode.FULL, "api")
        (run,) = await _wait_for_runs(db, lambda rs: all(r.get("finished_at") for r in rs))
    finally:
        worker.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT_S):
            _, stderr = await worker.communicate()
    assert run["_id"] == queued["_id"]
    assert run["status"] == "succeeded"
    assert run["counts"]["created"] == RECORDS
    assert worker.returncode == 0, stderr.decode()
    assert b"stopped" in stderr
