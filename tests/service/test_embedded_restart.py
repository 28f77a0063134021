"""The service outlives its embedded database: killed, it is restarted on the same port,
and the API, the sync worker and change feeds carry on without an operator."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from schema.principal import Role
from service.api.app import create_app
from service.auth.keys import create_key
from service.live.changes import INSERT, ChangeHub
from service.settings import Settings
from service.storage.client import mongo_client
from service.storage.embedded import EmbeddedDatabase, embedded_database
from tests.conftest import TEST_KEY_SECRET
from tests.connectors.loopback import loopback_server
from tests.service.storage.test_embedded import servers
from tests.service.sync.test_engine import Registry, _register

WITHIN_S = 60.0
DATABASE = "restart"
SOURCES = "{ sources { id enabled } }"
TRIGGER = """
mutation { triggerSync(sourceId: "nko-registry", mode: FULL) { ... on SyncRun { id } } }
"""
RUN = "query($id: ID!) { syncRun(id: $id) { status counts { created } } }"


async def wait_for(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first truthy value of `condition`, polled until WITHIN_S."""
    deadline = time.monotonic() + WITHIN_S
    while not (value := await condition()):
        assert time.monotonic() < deadline, f"not within {WITHIN_S:.0f} s: {what}"
        await asyncio.sleep(0.1)
    return value


async def prepared(storage: Path, registry_url: str) -> str:
    """A registered source and an admin key in the files the app will open; the key."""
    database = EmbeddedDatabase(storage)
    await database.start(60)
    client = mongo_client(database.uri)
    try:
        db = client[DATABASE]
        await _register(db, _Server(registry_url))
        return (await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)).key
    finally:
        await client.close()
        database.stop()


class _Server:
    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, path: str) -> str:
        return self._url


async def test_the_api_and_its_worker_carry_on_after_the_database_is_killed(
    tmp_path: Path,
) -> None:
    source = Registry()
    async with loopback_server({"/registry": source.handle}) as registry:
        key = await prepared(tmp_path / "db", registry.url("/registry"))
        settings = Settings(
            data_dir=tmp_path,
            database=DATABASE,
            key_secret=SecretStr(TEST_KEY_SECRET),
            rate_limit_per_key=0,
            rate_limit_per_address=0,
            worker_poll_s=0.2,
            fetch_allowed_networks=["127.0.0.1/32"],
        )
        app = create_app(settings)
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://guildgraph.test"
            ) as http,
        ):

            async def data(query: str, variables: dict[str, Any] | None = None) -> Any:
                response = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    return None
                return body["data"]

            first = await wait_for(lambda: data(SOURCES), "the API answered")
            assert first == {"sources": [{"id": "nko-registry", "enabled": True}]}
            [killed] = servers(tmp_path / "db")
            os.kill(killed, signal.SIGKILL)

            # Nobody touches the app: it answers again once its database is back.
            answer = await wait_for(lambda: data(SOURCES), "the API answered again")
            assert answer == {"sources": [{"id": "nko-registry", "enabled": True}]}
            [restarted] = servers(tmp_path / "db")
            assert restarted != killed

            # The in-process worker still claims and runs what is queued.
            run_id = (await data(TRIGGER))["triggerSync"]["id"]

            async def succeeded() -> Any:
                run = await data(RUN, {"id": run_id})
                return run and run["syncRun"]["status"] == "SUCCEEDED" and run["syncRun"]

            run = await wait_for(succeeded, "the run triggered after the restart succeeded")
            assert run["counts"]["created"] == len(source.records)
    assert servers(tmp_path / "db") == []


async def test_a_change_feed_resumes_from_its_token_after_the_database_restarts(
    tmp_path: Path,
) -> None:
    async with embedded_database(tmp_path / "db", 60) as uri:
        client = mongo_client(uri, serverSelectionTimeoutMS=2000)
        db = client[DATABASE]
        hub = ChangeHub({"things": {INSERT}})
        listener = await hub.listen(db)
        try:
            await db.things.insert_one({"_id": "before"})
            seen = await asyncio.wait_for(listener.get(), WITHIN_S)
            assert seen is not None
            assert seen.key == "before"

            [killed] = servers(tmp_path / "db")
            os.kill(killed, signal.SIGKILL)

            async def back() -> bool:
                try:
                    await client.admin.command("ping")
                except Exception:
                    return False
                return servers(tmp_path / "db") not in ([], [killed])

            await wait_for(back, "the database is back")
            # Written after the restart, maybe before the stream reopened: the stream
            # resumes after the last change it delivered, so this one is not missed.
            await db.things.insert_one({"_id": "after"})
            resumed = await asyncio.wait_for(listener.get(), WITHIN_S)
            assert resumed is not None, "the feed reopened from 'now' and lost its place"
            assert resumed.key == "after"
        finally:
            listener.close()
            await hub.stop()
            await client.close()
