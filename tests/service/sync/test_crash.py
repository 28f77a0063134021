"""Crash safety: a sync killed with SIGKILL at random points ends with exactly the source.

The source is a paginated JSON registry of 10,000 records over 100 pages on a
loopback server in this process; `guildgraph sync` runs as a child process and is
killed at seeded-random moments (some between pages, some in the middle of
writing a batch), then started again until it finishes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sys
import threading
from collections.abc import AsyncIterator

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.storage.collections import COMMUNITIES, LISTINGS, Database
from service.sync.sources import add_source
from tests.conftest import REPO
from tests.connectors.loopback import Loopback, loopback_server
from tests.service.registries import json_registry

RECORDS = 10_000
PAGE_SIZE = 100
KILLS = 4
SEED = 20261127


def _record(i: int) -> dict[str, str]:
    return {"ogrn": f"1{i:012d}", "name": f"Ассоциация участников рынка {i}", "opf": "НП"}


class CrashingRegistry:
    """Serves pages; at chosen pages it arranges the sync process's death."""

    def __init__(self) -> None:
        self.records = [_record(i) for i in range(RECORDS)]
        self.rng = random.Random(SEED)
        self.victim: int | None = None
        self.kill_at_page: int | None = None

    def arm(self, pid: int) -> None:
        """Kill `pid` a random number of pages from now (it resumes, so it progresses)."""
        self.victim = pid
        self.kill_at_page = self.rng.randint(1, 25)

    def handle(self, request: Request) -> Response:
        page = int(request.query_params.get("page", "1"))
        if self.victim is not None and self.kill_at_page is not None:
            self.kill_at_page -= 1
            if self.kill_at_page <= 0:
                # Soon, not now: the kill lands while the page is being ingested or
                # checkpointed, not only between requests.
                delay = self.rng.uniform(0.0, 0.4)
                victim, self.victim = self.victim, None
                timer = threading.Timer(delay, _kill, args=(victim,))
                timer.daemon = True
                timer.start()
        start = (page - 1) * PAGE_SIZE
        return JSONResponse({"items": self.records[start : start + PAGE_SIZE]})


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it finished first


@pytest.fixture
async def registry() -> AsyncIterator[tuple[CrashingRegistry, Loopback]]:
    source = CrashingRegistry()
    async with loopback_server({"/registry": source.handle}) as server:
        yield source, server


async def _sync_process(mongo_uri: str, db: Database) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "GUILDGRAPH_DATABASE": db.name,
        "GUILDGRAPH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli.main", "sync", "crash-src", "--full",
        cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _digest(rows: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()


async def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    mongo_uri: str, db: Database, registry: tuple[CrashingRegistry, Loopback]
) -> None:
    source, server = registry
    url = server.url("/registry")
    name = "Реестр для проверки падений"
    await add_source(db, json_registry("crash-src", name, url, page_size=PAGE_SIZE))

    kills = 0
    for _attempt in range(KILLS + 3):
        process = await _sync_process(mongo_uri, db)
        if kills < KILLS:
            source.arm(process.pid)
        code = await asyncio.wait_for(process.wait(), timeout=600)
        if code == -signal.SIGKILL:
            kills += 1
            continue
        assert code == 0
        break
    else:
        pytest.fail("the sync never finished")

    assert kills == KILLS
    expected = [(r["ogrn"], r["name"]) for r in source.records]
    listings = await db[LISTINGS].find({"source_id": "crash-src"}).to_list()
    assert len(listings) == RECORDS
    assert {doc["state"] for doc in listings} == {"applied"}
    communities = await db[COMMUNITIES].find({}, {"name": 1, "sources": 1}).to_list()
    assert len(communities) == RECORDS
    stored = [(doc["sources"][0]["external_id"], doc["name"]["ru"]) for doc in communities]
    assert _digest(stored) == _digest(expected)
