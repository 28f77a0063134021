"""How long a change made through one instance takes to show on another:

    bench projection_lag: p50_ms=.. p99_ms=.. max_ms=..

A second `guildgraph serve` (its own data directory, so its own read model) runs
against the same database. The first instance serves the showcase to `concurrency`
clients (no-cache), and a full sync of a CSV registry of `lag_records` rows (a file
served from a loopback HTTP server in this process) runs meanwhile, triggered through
the admin API; whichever instance's worker claims it runs it. Then, sample after
sample, the partner changes its probe community through the second instance, and the
first instance is asked for that community by slug (no-cache) until its answer shows
the change. A sample is the time from the second instance's acknowledgement (the
write has been applied to *its* read model) to the first answer of the first instance
that shows it. When the phase has its samples, the sync is cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from admin_api import (
    Caller,
    caller,
    create_source,
    stop_run,
    sync_run,
    trigger_full_sync,
)
from file_server import file_server
from ingest_data import registry_mapping, write_registry
from load import UNCACHED, Outcome, percentile_ms, report_failures, run_load, showcase_scenario
from load_client import LoadClient
from partner_push import partner_community
from servers import Server, ServerSpec, running, wait_ready

REGISTRY_SOURCE = "bench-registry"
REGISTRY_FILE = "registry.csv"
PROBE_ID = "lag-probe"
SAMPLE_TIMEOUT_S = 60.0
SYNC_START_TIMEOUT_S = 120.0
# A second instance's first start builds its read model of the whole bench dataset.
SECOND_READY_TIMEOUT_S = 900.0

PROBE_UPSERT = """
mutation Probe($input: UpsertListingsInput!) {
  upsertListings(input: $input) { created updated rejected results { entityId errors { message } } }
}"""
SLUG_OF = "query($id: ID!) { node(id: $id) { ... on Community { slug } } }"
PROBE_READ = "query($slug: String!) { community(slug: $slug) { memberCount } }"


@dataclass
class LagResult:
    lags_s: list[float] = field(default_factory=list)
    during_sync: int = 0  # samples acknowledged while the sync was running
    synced_records: int = 0  # records the sync had read when sampling ended
    reads: Outcome = field(default_factory=Outcome)
    reads_elapsed_s: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)

    def line(self, sync_records: int) -> str:
        read_rps = len(self.reads.latencies_s) / self.reads_elapsed_s if self.reads_elapsed_s else 0
        return (
            f"bench projection_lag: p50_ms={percentile_ms(self.lags_s, 50):.1f} "
            f"p99_ms={percentile_ms(self.lags_s, 99):.1f} "
            f"max_ms={max(self.lags_s, default=float('nan')) * 1000:.1f} "
            f"samples={len(self.lags_s)} during_sync={self.during_sync} "
            f"sync_records={sync_records} synced_while_sampling={self.synced_records} "
            f"read_rps={read_rps:.1f}"
        )


def prepare_registry(directory: Path, rows: int, seed: int) -> Path:
    """The registry file the sync reads, written once per size and seed."""
    path = directory / REGISTRY_FILE
    manifest = directory / "manifest.json"
    wanted = {"rows": rows, "seed": seed}
    if path.exists() and manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    size = write_registry(path, rows, seed)
    manifest.write_text(json.dumps(wanted))
    print(
        f"registry: {rows} rows ({size / 2**20:.1f} MiB) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return path


def registry_spec(base_url: str) -> dict[str, Any]:
    return {
        "id": REGISTRY_SOURCE,
        "name": "Bench registry",
        "family": "ASSOCIATION",
        "kind": "csv",
        "config": {"url": f"{base_url}/{REGISTRY_FILE}", "mapping": registry_mapping()},
    }


class RunWatcher:
    """Follows a sync run through the admin API, twice a second."""

    def __init__(self, admin: Caller, run_id: str) -> None:
        self.admin = admin
        self.run_id = run_id
        self.run: dict[str, Any] = {"status": "QUEUED", "active": True, "counts": {"fetched": 0}}
        self.started = asyncio.Event()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            self.run = await sync_run(self.admin, self.run_id)
            if self.run["counts"]["fetched"] > 0 or not self.run["active"]:
                self.started.set()
            if not self.run["active"]:
                return
            await asyncio.sleep(0.5)

    @property
    def running(self) -> bool:
        return bool(self.run["active"]) and self.run["status"] == "RUNNING"

    async def wait_started(self) -> None:
        async with asyncio.timeout(SYNC_START_TIMEOUT_S):
            await self.started.wait()
        if not self.running:
            raise RuntimeError(f"the registry sync is not running: {self.run}")

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def set_probe(partner: Caller, value: int) -> str:
    """The probe community with memberCount `value`, written through the second
    instance; its global id once that instance's read model shows it."""
    listing = partner_community(PROBE_ID, 0, memberCount=value)
    payload = (await partner.data(PROBE_UPSERT, {"input": {"listings": [listing]}}))[
        "upsertListings"
    ]
    if payload["rejected"] or payload["created"] + payload["updated"] != 1:
        raise RuntimeError(f"the probe was not written: {payload}")
    entity_id: str = payload["results"][0]["entityId"]
    return entity_id


async def slug_of(second: Caller, entity_id: str) -> str:
    """The probe's slug, from the second instance. Asked until it answers: a write
    returns after at most GUILDGRAPH_READ_YOUR_WRITES_TIMEOUT_S even when the read model
    has not shown it yet (the server logs a warning then)."""
    deadline = time.monotonic() + SAMPLE_TIMEOUT_S
    while (node := (await second.data(SLUG_OF, {"id": entity_id}))["node"]) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the second instance does not show {entity_id}")
        await asyncio.sleep(0.1)
    slug: str = node["slug"]
    return slug


async def shown(probe: httpx.AsyncClient, slug: str, value: int, since: float) -> float:
    """Ask the first instance until its answer shows memberCount `value`; the seconds
    from `since` to that answer."""
    body = {"query": PROBE_READ, "variables": {"slug": slug}}
    while True:
        response = await probe.post("/graphql", json=body, headers=UNCACHED)
        seen = time.perf_counter()
        response.raise_for_status()
        community = orjson.loads(response.content)["data"]["community"]
        if community is not None and community["memberCount"] == value:
            return seen - since
        if seen - since > SAMPLE_TIMEOUT_S:
            raise RuntimeError(f"the first instance did not show the change in {SAMPLE_TIMEOUT_S}s")


async def take_samples(
    partner: Caller,
    probe: httpx.AsyncClient,
    slug: str,
    watcher: RunWatcher,
    count: int,
    result: LagResult,
    seed: int,
) -> None:
    pause = random.Random(seed)
    for value in range(1, count + 1):
        await set_probe(partner, value)
        acked = time.perf_counter()
        during = watcher.running
        result.lags_s.append(await shown(probe, slug, value, acked))
        result.during_sync += during
        # Not in step with the applier's batches.
        await asyncio.sleep(pause.uniform(0, 0.1))
    result.synced_records = int(watcher.run["counts"]["fetched"])


async def measure_lag(
    first: Server, second: Server, admin_key: str, partner_key: str, args: argparse.Namespace
) -> LagResult:
    result = LagResult()
    async with (
        caller(second.url, admin_key) as admin,
        caller(second.url, partner_key, 60.0) as partner,
        httpx.AsyncClient(base_url=first.url, timeout=60.0) as probe,
        LoadClient(first.url, args.concurrency, timeout=60.0) as read_client,
    ):
        entity_id = await set_probe(partner, 0)
        try:
            slug = await slug_of(partner, entity_id)
        except RuntimeError as error:
            async with caller(first.url, None, 60.0) as anonymous:
                node = (await anonymous.data(SLUG_OF, {"id": entity_id}))["node"]
            raise RuntimeError(f"{error}; the first instance shows it as {node}") from None
        await shown(probe, slug, 0, time.perf_counter())
        run_id = await trigger_full_sync(admin, REGISTRY_SOURCE)
        watcher = RunWatcher(admin, run_id)
        stop = asyncio.Event()
        reads = asyncio.create_task(
            run_load(read_client, showcase_scenario(), args.concurrency, float("inf"), stop)
        )
        try:
            await watcher.wait_started()
            print(f"projection lag: sync {run_id} running, sampling", flush=True)
            await take_samples(partner, probe, slug, watcher, args.lag_samples, result, args.seed)
        finally:
            stop.set()
            result.reads, result.reads_elapsed_s = await reads
            await watcher.close()
            # Also after a failure: an active run keeps its source from being deleted.
            run = await stop_run(admin, run_id)
    result.failures += result.reads.failures
    print(
        f"projection lag: {len(result.lags_s)} samples, {result.during_sync} during the sync "
        f"(it read {result.synced_records} of {args.lag_records} records, then "
        f"{run['status'].lower()} at {run['counts']['fetched']}); "
        f"{len(result.reads.latencies_s)} reads on the first instance",
        flush=True,
    )
    if result.during_sync < len(result.lags_s):
        print("  the sync ended before the last samples: use more --lag-records", flush=True)
    report_failures(result.failures)
    return result


async def projection_lag(
    first: Server,
    second_spec: ServerSpec,
    admin_key: str,
    partner_key: str,
    args: argparse.Namespace,
) -> LagResult:
    """Start the second instance, register the registry source, measure, stop it."""
    files = args.out / "lag"
    prepare_registry(files, args.lag_records, args.seed)
    with file_server(files) as base_url, running(second_spec) as second:
        ready_s = await wait_ready(second, SECOND_READY_TIMEOUT_S)
        print(f"second instance ready in {ready_s:.1f}s (port {second.port})", flush=True)
        async with caller(second.url, admin_key) as admin:
            await create_source(admin, registry_spec(base_url))
        return await measure_lag(first, second, admin_key, partner_key, args)
