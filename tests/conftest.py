"""Test session: one real SecantusDB server; each test gets its own database.

Read-only API tests share one database with the demo dataset loaded once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from service.api.app import create_app
from service.api.metrics import Metrics
from service.demo.dataset import load_demo
from service.settings import ReadConsistency, Settings
from service.storage.client import mongo_client
from service.storage.collections import Database
from service.storage.embedded import EmbeddedDatabase
from service.storage.setup import ensure_collections


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Locked, recorded beside its files and gone with this process, however it ends.
    # Without an fsync per commit: these files are thrown away, and dropping a test's
    # database document by document with one would take minutes. What a kill must not
    # lose is tested on a server run as the service runs it (test_durability.py).
    server = EmbeddedDatabase(tmp_path_factory.mktemp("secantus") / "db", sync_on_commit=False)
    try:
        asyncio.run(server.start(60))
        yield server.uri
    finally:
        server.stop()
        shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
async def mongo(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = mongo_client(mongo_uri)
    yield client
    await client.close()


def database_name(nodeid: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9]+", "_", nodeid.split("::")[-1])[:40]
    return f"t_{readable}_{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"  # noqa: S324


@pytest.fixture
async def db(
    mongo: AsyncMongoClient[dict[str, Any]], request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    name = database_name(request.node.nodeid)
    await mongo.drop_database(name)
    database = mongo[name]
    await ensure_collections(database)
    yield database
    await mongo.drop_database(name)


TEST_KEY_SECRET = "test-secret-not-for-production"
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="guildgraph-tests-"))


def settings_for(uri: str, database: str, **overrides: Any) -> Settings:
    """Settings for an app on a test database: no rate limits and no in-process worker
    unless a test asks for them (read tests send many requests from one address)."""
    defaults: dict[str, Any] = {
        "key_secret": SecretStr(TEST_KEY_SECRET),
        "rate_limit_per_key": 0,
        "rate_limit_per_address": 0,
        "worker_enabled": False,
        # Read models live beside each other, one file per test database.
        "data_dir": TEST_DATA_DIR,
        # Tests write through ingest() and read through the API at once: every
        # request waits until the read model shows what was written before it.
        "read_consistency": ReadConsistency.STRONG,
        # The bound on that wait (and on a write's): room for a loaded test machine,
        # where the production 2 s could pass first and a read would miss a write.
        "read_your_writes_timeout_s": 30.0,
    }
    return Settings(mongodb_uri=SecretStr(uri), database=database, **(defaults | overrides))


@pytest.fixture(scope="session")
async def demo_db(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[Database]:
    database = mongo["t_demo_shared"]
    await mongo.drop_database("t_demo_shared")
    await ensure_collections(database)
    results = await load_demo(database)
    rejected = [r for r in results if r.outcome.value == "rejected"]
    assert not rejected, rejected
    yield database
    await mongo.drop_database("t_demo_shared")


class GraphQLClient:
    """Posts GraphQL to the app over HTTP and returns the decoded response."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.query(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def client_for(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over real HTTP semantics (ASGI transport), its lifespan running."""
    app = create_app(settings, metrics=metrics)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guildgraph.test") as c:
            await until_ready(c)
            yield c


async def until_ready(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    """Wait for /readyz: the read model has been built and caught up."""
    deadline = time.monotonic() + timeout_s
    while (response := await client.get("/readyz")).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not become ready: {response.text}")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
async def demo_http(mongo_uri: str, demo_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings_for(mongo_uri, demo_db.name)):
        yield client


@pytest.fixture(scope="session")
def api(demo_http: httpx.AsyncClient) -> GraphQLClient:
    """The API over the shared demo database (read-only tests)."""
    return GraphQLClient(demo_http)


@pytest.fixture
async def http(mongo_uri: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over this test's own empty database."""
    async for client in client_for(settings_for(mongo_uri, db.name)):
        yield client


@pytest.fixture
def fresh_api(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def counted(
    mongo_uri: str, demo_db: Database
) -> AsyncIterator[tuple[GraphQLClient, Metrics]]:
    """The demo API with a `Metrics` whose database command counts tests can read; reads
    as production does (no consistency barrier per request)."""
    metrics = Metrics()
    settings = settings_for(mongo_uri, demo_db.name, read_consistency=ReadConsistency.SESSION)
    async for http in client_for(settings, metrics):
        yield GraphQLClient(http), metrics


REPO = Path(__file__).resolve().parents[1]
