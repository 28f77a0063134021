"""A database that died after start-up: every request is answered at once with a 503
that says so (JSON, the request id, Retry-After), whether admission or a resolver
needed the database; /readyz says so within a second, /healthz stays ok."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from schema.principal import Role
from service.auth.keys import create_key
from service.settings import Settings
from service.storage.client import mongo_client
from service.storage.embedded import EmbeddedDatabase
from tests.conftest import TEST_KEY_SECRET, client_for, settings_for

DB_TIMEOUT_S = 1.0
# Generous: before, the driver waited 30 s for a server; now the bound is DB_TIMEOUT_S.
ANSWER_WITHIN_S = 15.0
QUERY = {"query": "{ communities(first: 1) { totalCount edges { node { slug } } } }"}


@dataclass(frozen=True)
class DeadDatabase:
    limited: httpx.AsyncClient  # every request counted in MongoDB: admission reads it
    unlimited: httpx.AsyncClient  # no rate limits: only a key or a resolver reads it
    patient: httpx.AsyncClient  # waits 10 s for the database: /readyz must not
    key: str


@contextlib.asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings):
        yield client


async def _admin_key(uri: str) -> str:
    client = mongo_client(uri)
    try:
        new = await create_key(client["dying"], TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    finally:
        await client.close()
    return new.key


@pytest.fixture(scope="module")
async def dead(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DeadDatabase]:
    storage = tmp_path_factory.mktemp("dying") / "db"
    server = EmbeddedDatabase(storage)
    await server.start(60)
    revived = EmbeddedDatabase(storage, port=server.port)
    try:
        settings = settings_for(server.uri, "dying", db_timeout_s=DB_TIMEOUT_S)
        async with contextlib.AsyncExitStack() as apps:
            unlimited = await apps.enter_async_context(_app(settings))
            limited = await apps.enter_async_context(
                _app(
                    settings.model_copy(
                        update={"rate_limit_per_address": 600, "rate_limit_flush_s": 0}
                    )
                )
            )
            patient = await apps.enter_async_context(
                _app(settings.model_copy(update={"db_timeout_s": 10.0}))
            )
            key = await _admin_key(server.uri)
            ok = await limited.post("/graphql", json=QUERY)
            assert ok.status_code == 200, ok.text
            server.stop()  # the database dies under the running apps
            yield DeadDatabase(limited, unlimited, patient, key)
            # It comes back: every app answers again without a restart. (Their clients
            # are closed against a live server too: PyMongo leaks a socket when a client
            # is closed while its monitor is connecting to a dead server.)
            await revived.start(60)
            for app in (unlimited, limited, patient):
                await _until_ready(app)
                again = await app.post("/graphql", json=QUERY)
                assert again.status_code == 200, again.text
    finally:
        server.stop()
        revived.stop()


async def _until_ready(client: httpx.AsyncClient) -> None:
    """Each /readyz waits at most its ping's bound for the database; no sleeping."""
    async with asyncio.timeout(ANSWER_WITHIN_S):
        while (await client.get("/readyz")).status_code != 200:
            pass


async def _post(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    async with asyncio.timeout(ANSWER_WITHIN_S):
        return await client.post(
            "/graphql", json=QUERY, headers={"x-request-id": "outage-1", **headers}
        )


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"] == "outage-1"
    assert int(response.headers["retry-after"]) >= 1
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "DATA_STORE_UNAVAILABLE"
    assert "data store is unavailable" in error["message"]
    assert "data" not in response.json()


async def test_admission_with_rate_limiting_answers_503_at_once(dead: DeadDatabase) -> None:
    _assert_unavailable(await _post(dead.limited))


async def test_a_request_with_a_key_answers_503_at_once(dead: DeadDatabase) -> None:
    _assert_unavailable(await _post(dead.unlimited, authorization=f"Bearer {dead.key}"))


async def test_a_resolver_that_needs_the_database_answers_503_not_a_masked_error(
    dead: DeadDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        response = await _post(dead.unlimited)
    _assert_unavailable(response)
    assert "Internal server error" not in response.text
    outages = [r for r in caplog.records if "data store is unavailable" in r.getMessage()]
    assert len(outages) == 1
    assert "outage-1" in outages[0].getMessage()
    assert not [r for r in caplog.records if r.name == "guildgraph.errors"]


async def test_the_strict_media_type_gets_the_same_503(dead: DeadDatabase) -> None:
    response = await _post(dead.unlimited, accept="application/graphql-response+json")
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.status_code == 503


async def test_readyz_says_unavailable_within_a_second_and_healthz_stays_ok(
    dead: DeadDatabase,
) -> None:
    # This app waits 10 s for the database in requests; /readyz has its own bound.
    started = time.monotonic()
    ready = await dead.patient.get("/readyz")
    elapsed = time.monotonic() - started
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "database" in ready.json()["reason"]
    assert elapsed < 2.0, elapsed  # generous for "within a second"; far below the 10 s
    assert (await dead.patient.get("/healthz")).json() == {"status": "ok"}
