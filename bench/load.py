"""Concurrent GraphQL clients and what one load phase measures.

A phase runs `concurrency` clients for a duration against one server and gives one
`Result`: requests per second and latency as the clients see them, the server's own
CPU per request (/proc), and its MongoDB round trips per request from /metrics
(`guildgraph_db_request_commands_total`: commands sent while answering GraphQL
requests; the background ones, change stream, worker, rate-limit flushes, are counted
apart and shown on the progress line).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from load_client import Answer, LoadClient, LoadClientError
from servers import Server, cpu_seconds, metric_totals

# Execute every request: the response cache is bypassed (the cached lines say otherwise).
UNCACHED = {"Cache-Control": "no-cache"}
REQUEST_COMMANDS = "guildgraph_db_request_commands_total"
ALL_COMMANDS = "guildgraph_db_commands_total"

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
SHOWCASE_VARIABLES = {"industry": "it"}

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
    send: Callable[[LoadClient, int], Awaitable[Answer]] | None = None
    verify: Callable[[Answer], str | None] | None = None


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
    # Every command the server sent meanwhile (its change stream, worker, rate-limit
    # flushes too), per request: shown on the progress line only.
    db_all_per_req: float = 0.0
    extra: str = ""  # more fields: ratio_vs_static=.., hit_rate=..

    def line(self) -> str:
        return (
            f"bench {self.name}: rps={self.rps:.1f} p50_ms={self.p50_ms:.1f} "
            f"p99_ms={self.p99_ms:.1f} cpu_us_per_req={self.cpu_us_per_req:.0f} "
            f"db_roundtrips_per_req={self.db_roundtrips_per_req:.2f}{self.extra}"
        )


def percentile_ms(latencies_s: list[float], q: int) -> float:
    if len(latencies_s) < 2:
        return latencies_s[0] * 1000 if latencies_s else float("nan")
    return statistics.quantiles(latencies_s, n=100, method="inclusive")[q - 1] * 1000


def check_showcase(data: dict[str, Any]) -> str | None:
    connection = data["communities"]
    if not connection["edges"] or connection["totalCount"] <= 0:
        return "showcase: no communities in industry 'it'"
    return None


def check_community(data: dict[str, Any]) -> str | None:
    return None if data.get("community") else "community(slug) returned null"


def showcase_scenario(name: str = "showcase") -> Scenario:
    return Scenario(name, SHOWCASE, lambda n: SHOWCASE_VARIABLES, check_showcase)


def graphql_problem(response: Answer) -> str | None:
    """Why an answer is not a GraphQL result with data, or None."""
    return _problem(response)[0]


def _problem(response: Answer) -> tuple[str | None, dict[str, Any]]:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}", {}
    payload = orjson.loads(response.content)
    if payload.get("errors"):
        return f"errors: {orjson.dumps(payload['errors']).decode()[:500]}", {}
    if not payload.get("data"):
        return "no data", {}
    return None, payload["data"]


def response_problem(response: Answer, scenario: Scenario) -> str | None:
    problem, data = _problem(response)  # parsed once: the clients share the server's cores
    return problem if problem is not None else scenario.check(data)


async def request_once(client: LoadClient, scenario: Scenario, n: int, outcome: Outcome) -> None:
    body = {"query": scenario.query, "variables": scenario.variables(n)}
    started = time.perf_counter()
    try:
        if scenario.send is not None:
            response = await scenario.send(client, n)
        else:
            response = await client.post("/graphql", json=body, headers=UNCACHED)
    except LoadClientError as error:
        outcome.failures[f"transport: {error!r}"] += 1
        return
    outcome.latencies_s.append(time.perf_counter() - started)
    if scenario.verify is not None:
        problem = scenario.verify(response)
    else:
        problem = response_problem(response, scenario)
    if problem is not None:
        outcome.failures[problem] += 1


async def run_load(
    client: LoadClient,
    scenario: Scenario,
    concurrency: int,
    duration_s: float,
    stop: asyncio.Event | None = None,
) -> tuple[Outcome, float]:
    """`concurrency` clients sending `scenario` until `duration_s` is over or `stop` is set;
    the outcome and the seconds it took."""
    outcome = Outcome()
    counter: Iterator[int] = itertools.count()
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        while time.perf_counter() < deadline and not (stop is not None and stop.is_set()):
            await request_once(client, scenario, next(counter), outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return outcome, time.perf_counter() - started


async def measure(
    client: LoadClient, scenario: Scenario, server: Server, args: argparse.Namespace
) -> Result:
    """Warm up, then `args.concurrency` clients for `args.duration` seconds."""
    warmup = Outcome()
    for n in range(args.warmup):
        await request_once(client, scenario, n, warmup)
    commands = (REQUEST_COMMANDS, ALL_COMMANDS)
    before = await metric_totals(server, commands)
    cpu_before = cpu_seconds(server.pid)
    outcome, elapsed = await run_load(client, scenario, args.concurrency, args.duration)
    cpu_after = cpu_seconds(server.pid)
    after = await metric_totals(server, commands)
    requests = len(outcome.latencies_s) or 1
    return Result(
        name=scenario.name,
        requests=len(outcome.latencies_s),
        failures=warmup.failures + outcome.failures,
        rps=len(outcome.latencies_s) / elapsed,
        p50_ms=percentile_ms(outcome.latencies_s, 50),
        p99_ms=percentile_ms(outcome.latencies_s, 99),
        cpu_us_per_req=(cpu_after - cpu_before) / requests * 1e6,
        db_roundtrips_per_req=(after[REQUEST_COMMANDS] - before[REQUEST_COMMANDS]) / requests,
        db_all_per_req=(after[ALL_COMMANDS] - before[ALL_COMMANDS]) / requests,
    )


def report_failures(failures: Counter[str]) -> None:
    for message, count in failures.most_common(5):
        print(f"  {count}x {message}", file=sys.stderr)


def report(result: Result) -> None:
    failed = sum(result.failures.values())
    print(
        f"{result.name}: {result.requests} requests, {failed} failed; "
        f"{result.db_all_per_req:.3f} database commands per request in all (background too)",
        flush=True,
    )
    report_failures(result.failures)
