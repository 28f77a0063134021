"""Read-API benchmark: a synthetic dataset, real servers, concurrent GraphQL clients.

Starts its own SecantusDB under bench/out/, fills (or reuses) the bench database
through the ingestion entry point, runs `guildgraph serve` against it (production
settings: rate limiting on) and loads it. Every line is printed again at the end:

    bench dataset: build_s=.. communities=.. events=.. standards=..   (when it was built)
    bench showcase: rps=.. p50_ms=.. p99_ms=.. cpu_us_per_req=.. db_roundtrips_per_req=..
        ratio_vs_graphql_core=..
    bench community_by_slug: ...
    bench static / showcase_cached / showcase_304 / showcase_cached_during_sync: ...
        (cached_reads.py)
    bench partner_push_under_load: listings_per_s=.. batch_p99_ms=.. read_rps=..
        (partner_push.py)
    bench projection_lag: p50_ms=.. p99_ms=.. max_ms=..             (projection_lag.py)
    bench read_model: rebuild_s=.. restart_ready_s=.. size_mib=.. api_rss_mib=..
        (read_model_phase.py)

CPU is the server process tree's own user+system time; round trips come from the
server's /metrics (commands sent while answering GraphQL requests), so both are per
request and independent of the client. The showcase and slug lines send
`Cache-Control: no-cache`: they execute every request. ratio_vs_graphql_core is the
showcase's CPU per request over plain graphql-core executing the same query over the
same answer's data in memory, in this process (graphql_core_baseline.py).

The write phases (partner push, the registry sync of the lag phase) add entities; at
the end they are removed through the admin API (their sources deleted with their
listings), so the next run finds the same dataset. A run that was killed leaves them
behind: the next one removes them before it looks at the dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import secrets
import shutil
import sys
import time
import traceback
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import orjson
from admin_api import (
    caller,
    create_admin_key,
    create_partner,
    delete_source,
    remove_leftovers,
    revoke_key,
)
from cached_reads import bench_cached, static_file
from dataset import Sizes, anchor_day, counts, generate, load
from graphql_core_baseline import cpu_us_per_execution
from load import (
    COMMUNITY_BY_SLUG,
    SHOWCASE,
    SHOWCASE_VARIABLES,
    UNCACHED,
    Result,
    Scenario,
    check_community,
    measure,
    report,
    showcase_scenario,
)
from load_client import LoadClient
from partner_push import partner_push_under_load
from projection_lag import REGISTRY_SOURCE, projection_lag
from read_model_phase import (
    ReadModelResult,
    note_memory,
    remove_read_model,
    restart,
    start_rebuilding,
)
from servers import READY_TIMEOUT_S, Server, ServerSpec, running

from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES, Database
from service.storage.embedded import EmbeddedDatabase
from service.storage.setup import ensure_collections

BENCH_DIR = Path(__file__).resolve().parent
PARTNER_SOURCE = "bench-partner"
BENCH_SOURCES = [PARTNER_SOURCE, REGISTRY_SOURCE]
CLEAN_UP_TIMEOUT_S = 600.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="embedded DB home")
    parser.add_argument("--database", default="guildgraph_bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--communities", type=int, default=Sizes.communities)
    parser.add_argument("--events", type=int, default=Sizes.events)
    parser.add_argument("--standards", type=int, default=Sizes.standards)
    parser.add_argument("--batch-size", type=int, default=1000, help="listings per ingest call")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per phase")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring")
    parser.add_argument("--slugs", type=int, default=200, help="distinct slugs to cycle through")
    parser.add_argument("--readers", type=int, default=16, help="readers during the partner push")
    parser.add_argument("--push-batch", type=int, default=100, help="listings per partner batch")
    parser.add_argument("--lag-samples", type=int, default=50, help="projection lag samples")
    parser.add_argument(
        "--lag-records", type=int, default=20_000, help="rows of the registry synced meanwhile"
    )
    return parser.parse_args(argv)


# --- dataset ---------------------------------------------------------------------------


async def prepare_dataset(
    db: Database, args: argparse.Namespace, sizes: Sizes, rebuild: bool
) -> str | None:
    """Reuse the bench database when it holds the full dataset, else rebuild it; the
    `bench dataset` line when it was built."""
    await ensure_collections(db)
    found = await counts(db)
    if found == sizes and not rebuild:
        print(f"dataset: reused {args.database} ({found})", flush=True)
        return None
    # A partial or different dataset is dropped: re-ingesting over it would only
    # measure updates, and leftovers would skew the counts.
    print(f"dataset: generating (found {found}, want {sizes})", flush=True)
    await db.client.drop_database(db.name)
    await ensure_collections(db)
    started = time.perf_counter()
    groups = generate(args.seed, sizes, anchor_day())
    print(f"  built listings in {time.perf_counter() - started:.1f}s", flush=True)
    total = 0
    for label, listings in groups:
        await load(db, label, listings, args.batch_size)
        total += len(listings)
    elapsed = time.perf_counter() - started
    print(f"dataset: {total} records in {elapsed:.1f}s ({total / elapsed:.0f} records/s)")
    found = await counts(db)
    if found != sizes:
        raise RuntimeError(f"after loading the database holds {found}, not {sizes}")
    return (
        f"bench dataset: build_s={elapsed:.1f} communities={found.communities} "
        f"events={found.events} standards={found.standards}"
    )


async def sample_slugs(db: Database, count: int, seed: int) -> list[str]:
    slugs = sorted([doc["slug"] async for doc in db[COMMUNITIES].find({}, {"slug": 1})])
    return random.Random(seed).sample(slugs, min(count, len(slugs)))


# --- reads -----------------------------------------------------------------------------


def slug_scenario(slugs: list[str]) -> Scenario:
    return Scenario(
        "community_by_slug",
        COMMUNITY_BY_SLUG,
        lambda n: {"slug": slugs[n % len(slugs)]},
        check_community,
    )


async def graphql_core_floor(client: LoadClient) -> float:
    """CPU µs of plain graphql-core executing the showcase over its own answer's data."""
    response = await client.post(
        "/graphql", json={"query": SHOWCASE, "variables": SHOWCASE_VARIABLES}, headers=UNCACHED
    )
    response.raise_for_status()
    data: dict[str, Any] = orjson.loads(response.content)["data"]
    return cpu_us_per_execution(SHOWCASE, SHOWCASE_VARIABLES, data)


async def read_benchmarks(
    server: Server, slugs: list[str], args: argparse.Namespace
) -> list[Result]:
    async with LoadClient(server.url, args.concurrency, timeout=30.0) as client:
        showcase = await measure(client, showcase_scenario(), server, args)
        report(showcase)
        floor_us = await graphql_core_floor(client)
        ratio = showcase.cpu_us_per_req / floor_us
        print(f"graphql-core alone: {floor_us:.0f} µs CPU per showcase execution", flush=True)
        extra = f" ratio_vs_graphql_core={ratio:.2f} graphql_core_cpu_us={floor_us:.0f}"
        results = [dataclasses.replace(showcase, extra=extra)]
        by_slug = await measure(client, slug_scenario(slugs), server, args)
        report(by_slug)
        results.append(by_slug)
        results.extend(await bench_cached(client, server, args, static_file(args.out)))
    return results


# --- write phases and clean-up ---------------------------------------------------------

# Every event, past ones too: the default (upcoming only) moves with the clock, and the
# clean-up would wait for a count that an event starting meanwhile has changed.
TOTALS = """{
  communities(first: 1) { totalCount }
  events(first: 1, filter: {from: "1970-01-01T00:00:00Z"}) { totalCount }
  standards(first: 1) { totalCount }
}"""


async def entity_totals(url: str) -> dict[str, int]:
    """What the instance's read model holds, as the public API counts it."""
    async with caller(url, None, 60.0) as anonymous:
        data = await anonymous.data(TOTALS)
    return {name: int(connection["totalCount"]) for name, connection in data.items()}


async def clean_up(server: Server, admin_key: str, totals: dict[str, int]) -> None:
    """Delete the bench's sources with their listings (what only they supported goes),
    then wait until the instance's read model is back to `totals`."""
    started = time.perf_counter()
    async with caller(server.url, admin_key) as admin:
        for source_id in BENCH_SOURCES:
            deleted = await delete_source(admin, source_id)
            print(
                f"clean-up: {source_id}: {deleted['withdrawnListings']} listings withdrawn "
                f"({time.perf_counter() - started:.1f}s so far)",
                flush=True,
            )
    deadline = time.monotonic() + CLEAN_UP_TIMEOUT_S
    while (now := await entity_totals(server.url)) != totals:
        if time.monotonic() > deadline:
            print(f"clean-up: the read model holds {now}, not {totals}", flush=True)
            return
        await asyncio.sleep(0.5)
    print(f"clean-up: done in {time.perf_counter() - started:.1f}s", flush=True)


# --- main ------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    lines: list[str] = dataclasses.field(default_factory=list)
    failed: bool = False

    async def phase(self, name: str, work: Awaitable[tuple[str, bool]]) -> None:
        """Run one phase; its line, or a line saying why it failed. A failed phase does
        not stop the others (nor the clean-up): the run still reports what it could."""
        try:
            line, failed = await work
        # Anything: the traceback is printed, the run goes on and exits 1.
        except Exception as error:
            traceback.print_exc()
            line, failed = f"bench {name}: failed {type(error).__name__}: {error}"[:400], True
        self.lines.append(line)
        self.failed |= failed


async def run_phases(
    args: argparse.Namespace,
    first: ServerSpec,
    second: ServerSpec,
    slugs: list[str],
    admin_key: str,
) -> Report:
    out = Report()
    model = ReadModelResult()
    remove_read_model(first)
    with running(first) as server:
        await start_rebuilding(first, server, model)
        reads = await read_benchmarks(server, slugs, args)
        out.lines += [result.line() for result in reads]
        out.failed |= any(result.failures for result in reads)
        totals = await entity_totals(server.url)
        async with caller(server.url, admin_key) as admin:
            partner_key = await create_partner(admin, PARTNER_SOURCE)

        async def push() -> tuple[str, bool]:
            result = await partner_push_under_load(
                server.url, partner_key, args.readers, args.duration, args.push_batch
            )
            return result.line(), bool(result.failures)

        async def lag() -> tuple[str, bool]:
            result = await projection_lag(server, second, admin_key, partner_key, args)
            return result.line(args.lag_records), bool(result.failures)

        await out.phase("partner_push_under_load", push())
        await out.phase("projection_lag", lag())
        note_memory(server, model)
        try:
            await clean_up(server, admin_key, totals)
        # Anything: the next run removes what is left (remove_leftovers).
        except Exception:
            traceback.print_exc()
            out.failed = True
    await restart(first, model)
    out.lines.append(model.line())
    return out


def server_specs(
    args: argparse.Namespace, uri: str, key_secret: str
) -> tuple[ServerSpec, ServerSpec]:
    first = ServerSpec(
        uri,
        args.database,
        key_secret,
        data_dir=args.out / "api",
        log_path=args.out / "server.log",
        static_file=static_file(args.out),
    )
    second = dataclasses.replace(
        first, data_dir=args.out / "api2", log_path=args.out / "server2.log", static_file=None
    )
    return first, second


async def main(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    # Every instance the same secret (as production requires), new for each run.
    key_secret = secrets.token_hex(32)
    if args.regenerate:
        # The embedded server drops a database of this size document by document (more
        # than 20 minutes); its files go at once. The directory holds only this dataset.
        shutil.rmtree(args.out / "db", ignore_errors=True)
    # Its own server on its files: another run's live server is an error, not shared.
    database = EmbeddedDatabase(args.out / "db", reuse=False)
    await database.start(READY_TIMEOUT_S)
    try:
        args.mongodb_uri = database.uri  # for the writer of the cached-during-sync line
        mongo = mongo_client(database.uri, embedded=True)
        try:
            db = mongo[args.database]
            clean = await remove_leftovers(db, key_secret, BENCH_SOURCES)
            sizes = Sizes(args.communities, args.events, args.standards)
            built = await prepare_dataset(db, args, sizes, rebuild=args.regenerate or not clean)
            slugs = await sample_slugs(db, args.slugs, args.seed)
            admin_key, admin_key_id = await create_admin_key(db, key_secret)
            try:
                first, second = server_specs(args, database.uri, key_secret)
                report = await run_phases(args, first, second, slugs, admin_key)
            finally:
                await revoke_key(db, key_secret, admin_key_id)
        finally:
            await mongo.close()
    finally:
        database.stop()
    if built is not None:
        report.lines.insert(0, built)
    print()
    for line in report.lines:
        print(line)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
