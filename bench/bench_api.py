"""Read-API benchmark: a synthetic dataset, a real server, concurrent GraphQL clients.

Starts its own SecantusDB under bench/out/, fills (or reuses) the bench database
through the ingestion entry point, runs `guildgraph serve` against it and loads
two representative queries. Per query it prints one line:

    bench <name>: rps=.. p50_ms=.. p99_ms=.. cpu_us_per_req=.. db_roundtrips_per_req=..

CPU is the server process's own user+system time; round trips come from the
server's /metrics counters, so both are per request and independent of the client.
Those two lines send `Cache-Control: no-cache`: they execute every request, as before
the response cache. Then, in the same run and server:

    bench static: ...             the showcase answer's bytes from a plain Starlette route
    bench showcase_cached: ... ratio_vs_static=..   the showcase repeated (cache hits)
    bench showcase_304: ... ratio_vs_static=..      GET revalidations with If-None-Match
    bench showcase_cached_during_sync: ... hit_rate=..  while a writer changes communities

ratio_vs_static is the line's rps over the static line's rps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from dataset import Sizes, anchor_day, counts, generate, load

from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES, Database
from service.storage.embedded import EmbeddedDatabase, die_with_parent, free_port
from service.storage.setup import ensure_collections

BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

SHOWCASE = """
query Showcase($industry: String!) {
  communities(filter: {industries: [$industry]}, first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id slug name kind form industries countries website
      events(first: 5) { edges { node { id title startsAt format attendanceMode } } }
      standards(first: 5) { edges { node { id code title kind } } }
    } }
  }
  facets(filter: {industries: [$industry]}) {
    communities { byKind { value count } byForm { value count } }
  }
}
"""

COMMUNITY_BY_SLUG = """
query($slug: String!) {
  community(slug: $slug) {
    id slug name kind form industries website
    events(first: 5) { edges { node { id title startsAt } } }
  }
}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    query: str
    variables: Callable[[int], dict[str, Any]]
    # Returns why a successful-looking answer is still wrong, or None.
    check: Callable[[dict[str, Any]], str | None]
    # How a request is sent (default: a POST that bypasses the response cache), and how
    # an answer that is not a GraphQL result (a 304, static bytes) is checked.
    send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]] | None = None
    verify: Callable[[httpx.Response], str | None] | None = None


@dataclass
class Outcome:
    latencies_s: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    failures: Counter[str]
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    db_roundtrips_per_req: float
    extra: str = ""  # more fields: ratio_vs_static=.., hit_rate=..

    def line(self) -> str:
        return (
            f"bench {self.name}: rps={self.rps:.1f} p50_ms={self.p50_ms:.1f} "
            f"p99_ms={self.p99_ms:.1f} cpu_us_per_req={self.cpu_us_per_req:.0f} "
            f"db_roundtrips_per_req={self.db_roundtrips_per_req:.2f}{self.extra}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="embedded DB home")
    parser.add_argument("--database", default="guildgraph_bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--batch-size", type=int, default=1000, help="listings per ingest call")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per query")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring")
    parser.add_argument("--slugs", type=int, default=200, help="distinct slugs to cycle through")
    return parser.parse_args(argv)


# --- dataset ---------------------------------------------------------------------------


async def prepare_dataset(db: Database, args: argparse.Namespace, sizes: Sizes) -> None:
    """Reuse the bench database when it holds the full dataset, else rebuild it."""
    await ensure_collections(db)
    found = await counts(db)
    if found == sizes and not args.regenerate:
        print(f"dataset: reused {args.database} ({found})", flush=True)
        return
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


async def sample_slugs(db: Database, count: int, seed: int) -> list[str]:
    slugs = sorted([doc["slug"] async for doc in db[COMMUNITIES].find({}, {"slug": 1})])
    return random.Random(seed).sample(slugs, min(count, len(slugs)))


# --- server ----------------------------------------------------------------------------


def start_server(
    port: int, mongodb_uri: str, database: str, log_path: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "GUILDGRAPH_DATABASE": database,
        "GUILDGRAPH_ENV": "prod",
        "GUILDGRAPH_KEY_SECRET": secrets.token_hex(32),
        # Counted as in production (one counter write per request), never reached:
        # every benchmark client comes from one address.
        "GUILDGRAPH_RATE_LIMIT_PER_ADDRESS": str(10**9),
        # Each response names the API process that answered, so the measurements can
        # add up every process's own /metrics.
        "GUILDGRAPH_SERVED_BY_HEADER": "true",
        # The plain endpoint the cached lines are compared with (bench_cached below).
        "GUILDGRAPH_BENCH_STATIC_FILE": str(static_file(log_path.parent)),
    }
    # GUILDGRAPH_WORKERS as the caller's environment has it; unset, as `make run`: one
    # API process per core, under the supervisor.
    command = [str(Path(sys.executable).parent / "guildgraph"), "serve", "--port", str(port)]
    with log_path.open("ab") as log:
        # Own session: a Ctrl-C reaches only us, and we stop the server before the DB.
        # It gets SIGTERM when this process dies, as the database does.
        return subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )


def log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


async def wait_ready(
    client: httpx.AsyncClient, server: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}:\n{log_tail(log_path)}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/readyz")).status_code == 200:
                # Every API process, not only the one this connection reached.
                wanted = api_processes(server.pid)
                answers = await each_process(client, wanted, "/readyz")
                if answers.keys() >= wanted and all(
                    answer.status_code == 200 for answer in answers.values()
                ):
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"server not ready within {READY_TIMEOUT_S:.0f}s:\n{log_tail(log_path)}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- measurements ----------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """A process and every live process below it (Linux /proc)."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                tree.extend(int(child) for child in (task / "children").read_text().split())
        index += 1
    return tree


def api_processes(server_pid: int) -> set[int]:
    """The server's API processes: the supervisor's `guildgraph serve` children, or the
    server itself when it serves alone (GUILDGRAPH_WORKERS=1)."""
    found = set()
    for pid in process_tree(server_pid)[1:]:
        with contextlib.suppress(OSError):
            if b"service.cli.main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
    return found or {server_pid}


async def each_process(
    client: httpx.AsyncClient, pids: set[int], path: str
) -> dict[int, httpx.Response]:
    """An answer from each of `pids` (as many as answered): GETs on new connections,
    since the kernel hands each connection to one of the processes on the port."""
    answers: dict[int, httpx.Response] = {}
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=client.base_url, limits=fresh, timeout=30.0) as once:
        for _ in range(100 * len(pids)):
            response = await once.get(path)
            answers[int(response.headers["x-served-by"].rsplit(":", 1)[1])] = response
            if answers.keys() >= pids:
                break
    return answers


def cpu_seconds(pid: int) -> float:
    """utime + stime of the server: its process and every one below it (the API
    processes), from /proc/<pid>/stat (fields 14 and 15), with the children it has
    reaped (cutime + cstime, fields 16 and 17: an API process that was restarted)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            # The command name (field 2) may contain spaces; fields are counted after it.
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            if member == pid:
                total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def metric_total(text: str, name: str) -> float:
    """Sum of a Prometheus counter over all its label sets."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((f"{name}{{", f"{name} ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def db_commands(client: httpx.AsyncClient, server_pid: int) -> float:
    """MongoDB commands sent so far, summed over the API processes (each counts its own)."""
    wanted = api_processes(server_pid)
    answers = await each_process(client, wanted, "/metrics")
    if answers.keys() < wanted:
        raise RuntimeError(f"/metrics answered by {sorted(answers)}, not {sorted(wanted)}")
    total = 0.0
    for response in answers.values():
        response.raise_for_status()
        total += metric_total(response.text, "guildgraph_db_commands_total")
    return total


def percentile_ms(latencies_s: list[float], q: int) -> float:
    if len(latencies_s) < 2:
        return latencies_s[0] * 1000 if latencies_s else float("nan")
    return statistics.quantiles(latencies_s, n=100, method="inclusive")[q - 1] * 1000


# --- load ------------------------------------------------------------------------------


async def request_once(
    client: httpx.AsyncClient, scenario: Scenario, n: int, outcome: Outcome
) -> None:
    body = {"query": scenario.query, "variables": scenario.variables(n)}
    started = time.perf_counter()
    try:
        if scenario.send is not None:
            response = await scenario.send(client, n)
        else:
            response = await client.post("/graphql", json=body, headers=UNCACHED)
    except httpx.HTTPError as error:
        outcome.failures[f"transport: {error!r}"] += 1
        return
    outcome.latencies_s.append(time.perf_counter() - started)
    if scenario.verify is not None:
        problem = scenario.verify(response)
    else:
        problem = response_problem(response, scenario)
    if problem is not None:
        outcome.failures[problem] += 1


def response_problem(response: httpx.Response, scenario: Scenario) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    payload = orjson.loads(response.content)
    if payload.get("errors"):
        return f"errors: {orjson.dumps(payload['errors']).decode()[:500]}"
    if not payload.get("data"):
        return "no data"
    return scenario.check(payload["data"])


async def run_load(
    client: httpx.AsyncClient, scenario: Scenario, concurrency: int, duration_s: float
) -> tuple[Outcome, float]:
    outcome = Outcome()
    counter: Iterator[int] = itertools.count()
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await request_once(client, scenario, next(counter), outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return outcome, time.perf_counter() - started


async def bench(
    client: httpx.AsyncClient, scenario: Scenario, server_pid: int, args: argparse.Namespace
) -> Result:
    warmup = Outcome()
    for n in range(args.warmup):
        await request_once(client, scenario, n, warmup)
    commands_before = await db_commands(client, server_pid)
    cpu_before = cpu_seconds(server_pid)
    outcome, elapsed = await run_load(client, scenario, args.concurrency, args.duration)
    cpu_after = cpu_seconds(server_pid)
    commands_after = await db_commands(client, server_pid)
    requests = len(outcome.latencies_s) or 1
    return Result(
        name=scenario.name,
        requests=len(outcome.latencies_s),
        failures=warmup.failures + outcome.failures,
        rps=len(outcome.latencies_s) / elapsed,
        p50_ms=percentile_ms(outcome.latencies_s, 50),
        p99_ms=percentile_ms(outcome.latencies_s, 99),
        cpu_us_per_req=(cpu_after - cpu_before) / requests * 1e6,
        db_roundtrips_per_req=(commands_after - commands_before) / requests,
    )


def check_showcase(data: dict[str, Any]) -> str | None:
    connection = data["communities"]
    if not connection["edges"] or connection["totalCount"] <= 0:
        return "showcase: no communities in industry 'it'"
    return None


def check_community(data: dict[str, Any]) -> str | None:
    return None if data.get("community") else "community(slug) returned null"


def scenarios(slugs: list[str]) -> list[Scenario]:
    return [
        Scenario("showcase", SHOWCASE, lambda n: {"industry": "it"}, check_showcase),
        Scenario(
            "community_by_slug",
            COMMUNITY_BY_SLUG,
            lambda n: {"slug": slugs[n % len(slugs)]},
            check_community,
        ),
    ]


def report(result: Result) -> None:
    failed = sum(result.failures.values())
    print(f"{result.name}: {result.requests} requests, {failed} failed", flush=True)
    for message, count in result.failures.most_common(5):
        print(f"  {count}x {message}", file=sys.stderr)


# --- cached answers --------------------------------------------------------------------

# The uncached lines bypass the response cache, so they measure execution as before it.
UNCACHED = {"Cache-Control": "no-cache"}
SYNC_WRITES_PER_S = 50


def static_file(out: Path) -> Path:
    return out / "static.json"


def verify_status(
    status: int, content: bytes | None = None
) -> Callable[[httpx.Response], str | None]:
    def verify(response: httpx.Response) -> str | None:
        if response.status_code != status:
            return f"HTTP {response.status_code}, not {status}: {response.text[:200]}"
        if content is not None and response.content != content:
            return "other bytes than the showcase answer"
        return None

    return verify


CACHE_COUNTS = ("hits", "misses", "stale_hits", "refreshes", "coalesced")


async def cache_counts(client: httpx.AsyncClient, server_pid: int) -> Counter[str]:
    """The response cache's counts so far, summed over the API processes."""
    counts: Counter[str] = Counter()
    for response in (await each_process(client, api_processes(server_pid), "/metrics")).values():
        for name in CACHE_COUNTS:
            metric = f"guildgraph_response_cache_{name}_total"
            counts[name] += int(metric_total(response.text, metric))
    return counts


async def keep_writing(uri: str, database: str, stop: asyncio.Event) -> int:
    """What a sync does to the read side: communities change all the time (about
    SYNC_WRITES_PER_S updates a second, each one a change the read model applies)."""
    mongo = mongo_client(uri, embedded=True)
    writes = 0
    try:
        db = mongo[database]
        ids = [doc["_id"] async for doc in db[COMMUNITIES].find({}, {"_id": 1}).limit(500)]
        while not stop.is_set():
            await db[COMMUNITIES].update_one(
                {"_id": ids[writes % len(ids)]},
                {"$set": {"updated_at": datetime.now(UTC)}},
            )
            writes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / SYNC_WRITES_PER_S)
    finally:
        await mongo.close()
    return writes


async def bench_cached(
    client: httpx.AsyncClient, server_pid: int, args: argparse.Namespace, static: Path
) -> list[Result]:
    """The showcase from the response cache, its revalidation, and a plain endpoint
    serving the same bytes, measured one after the other on the same server."""
    variables = {"industry": "it"}
    showcase = {"query": SHOWCASE, "variables": variables}
    first = await client.post("/graphql", json=showcase)
    first.raise_for_status()
    await asyncio.to_thread(static.write_bytes, first.content)
    etag = first.headers["etag"]
    get_params = {"query": SHOWCASE, "variables": orjson.dumps(variables).decode()}

    async def cached(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.post("/graphql", json=showcase)

    async def revalidate(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.get("/graphql", params=get_params, headers={"If-None-Match": etag})

    async def plain(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.get("/bench/static")

    def scenario(name: str, send: Any, verify: Any = None) -> Scenario:
        return Scenario(name, SHOWCASE, lambda n: variables, check_showcase, send, verify)

    static_result = await bench(
        client, scenario("static", plain, verify_status(200, first.content)), server_pid, args
    )
    report(static_result)
    results = [static_result]
    for name, send, verify in (
        ("showcase_cached", cached, None),
        ("showcase_304", revalidate, verify_status(304)),
    ):
        result = await bench(client, scenario(name, send, verify), server_pid, args)
        report(result)
        ratio = result.rps / static_result.rps if static_result.rps else float("nan")
        results.append(dataclasses.replace(result, extra=f" ratio_vs_static={ratio:.2f}"))

    stop = asyncio.Event()
    writer = asyncio.create_task(keep_writing(args.mongodb_uri, args.database, stop))
    try:
        await asyncio.sleep(1.0)  # the changes are flowing
        before = await cache_counts(client, server_pid)
        result = await bench(
            client, scenario("showcase_cached_during_sync", cached), server_pid, args
        )
        during = await cache_counts(client, server_pid)
        during.subtract(before)
    finally:
        stop.set()
        writes = await writer
    report(result)
    looked_up = during["hits"] + during["misses"]
    hit_rate = during["hits"] / looked_up if looked_up else float("nan")
    ratio = result.rps / static_result.rps if static_result.rps else float("nan")
    print(f"sync writer: {writes} community updates; cache: {dict(during)}", flush=True)
    extra = (
        f" ratio_vs_static={ratio:.2f} hit_rate={hit_rate:.4f}"
        f" stale_hits={during['stale_hits']} refreshes={during['refreshes']} writes={writes}"
    )
    results.append(dataclasses.replace(result, extra=extra))
    return results


# --- main ------------------------------------------------------------------------------


async def run_benchmarks(
    port: int,
    server: subprocess.Popen[bytes],
    log_path: Path,
    slugs: list[str],
    args: argparse.Namespace,
) -> list[Result]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30.0
    ) as client:
        await wait_ready(client, server, log_path)
        processes = len(api_processes(server.pid))
        print(
            f"server ready on port {port} (pid {server.pid}, {processes} API processes)", flush=True
        )
        results = []
        for scenario in scenarios(slugs):
            result = await bench(client, scenario, server.pid, args)
            report(result)
            results.append(result)
        results.extend(await bench_cached(client, server.pid, args, static_file(log_path.parent)))
        return results


async def main(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    # Its own server on its files: another run's live server is an error, not shared.
    database = EmbeddedDatabase(args.out / "db", reuse=False)
    await database.start(READY_TIMEOUT_S)
    try:
        mongo = mongo_client(database.uri, embedded=True)
        try:
            db = mongo[args.database]
            await prepare_dataset(db, args, Sizes())
            slugs = await sample_slugs(db, args.slugs, args.seed)
        finally:
            await mongo.close()
        port = free_port()
        log_path = args.out / "server.log"
        args.mongodb_uri = database.uri  # for the writer of the sync line
        server = start_server(port, database.uri, args.database, log_path)
        try:
            results = await run_benchmarks(port, server, log_path, slugs, args)
        finally:
            stop_server(server)
    finally:
        database.stop()
    for result in results:
        print(result.line())
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
