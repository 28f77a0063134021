"""The showcase from the response cache, its revalidation, and a plain endpoint serving
the same bytes, measured one after the other on the same server:

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
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from load import (
    SHOWCASE,
    SHOWCASE_VARIABLES,
    Result,
    Scenario,
    check_showcase,
    measure,
    report,
)
from load_client import Answer, LoadClient
from servers import Server, metric_totals

from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES

SYNC_WRITES_PER_S = 50
CACHE_COUNTS = ("hits", "misses", "stale_hits", "refreshes", "coalesced")


def static_file(out: Path) -> Path:
    return out / "static.json"


def verify_status(status: int, content: bytes | None = None) -> Callable[[Answer], str | None]:
    def verify(response: Answer) -> str | None:
        if response.status_code != status:
            return f"HTTP {response.status_code}, not {status}: {response.text[:200]}"
        if content is not None and response.content != content:
            return "other bytes than the showcase answer"
        return None

    return verify


async def cache_counts(server: Server) -> Counter[str]:
    """The response cache's counts so far, summed over the API processes."""
    names = tuple(f"guildgraph_response_cache_{name}_total" for name in CACHE_COUNTS)
    totals = await metric_totals(server, names)
    return Counter(
        {name: int(totals[metric]) for name, metric in zip(CACHE_COUNTS, names, strict=True)}
    )


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
    client: LoadClient, server: Server, args: argparse.Namespace, static: Path
) -> list[Result]:
    showcase = {"query": SHOWCASE, "variables": SHOWCASE_VARIABLES}
    first = await client.post("/graphql", json=showcase)
    first.raise_for_status()
    await asyncio.to_thread(static.write_bytes, first.content)
    etag = first.headers["etag"]
    get_params = {"query": SHOWCASE, "variables": orjson.dumps(SHOWCASE_VARIABLES).decode()}

    async def cached(client: LoadClient, n: int) -> Answer:
        return await client.post("/graphql", json=showcase)

    async def revalidate(client: LoadClient, n: int) -> Answer:
        return await client.get("/graphql", params=get_params, headers={"If-None-Match": etag})

    async def plain(client: LoadClient, n: int) -> Answer:
        return await client.get("/bench/static")

    def answered(response: Answer) -> str | None:
        # The cheapest check that a hit is a GraphQL answer with data and no errors
        # (the server writes "errors" first): parsing 22 KB of JSON twice per answer
        # made the clients, not the server, the limit of these lines.
        if response.status_code != 200 or not response.content.startswith(b'{"data":{'):
            return f"HTTP {response.status_code}, not an answer with data: {response.text[:200]}"
        return None

    def scenario(name: str, send: Any, verify: Any = None) -> Scenario:
        return Scenario(name, SHOWCASE, lambda n: SHOWCASE_VARIABLES, check_showcase, send, verify)

    static_result = await measure(
        client, scenario("static", plain, verify_status(200, first.content)), server, args
    )
    report(static_result)
    results = [static_result]
    for name, send, verify in (
        ("showcase_cached", cached, answered),
        ("showcase_304", revalidate, verify_status(304)),
    ):
        result = await measure(client, scenario(name, send, verify), server, args)
        report(result)
        ratio = result.rps / static_result.rps if static_result.rps else float("nan")
        results.append(dataclasses.replace(result, extra=f" ratio_vs_static={ratio:.2f}"))

    stop = asyncio.Event()
    writer = asyncio.create_task(keep_writing(args.mongodb_uri, args.database, stop))
    try:
        await asyncio.sleep(1.0)  # the changes are flowing
        before = await cache_counts(server)
        result = await measure(
            client, scenario("showcase_cached_during_sync", cached, answered), server, args
        )
        during = await cache_counts(server)
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
