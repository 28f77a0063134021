"""Read-your-writes on one instance with production consistency (no barrier per read).

Each write path (a partner upsert, a partner withdrawal, a sync batch) returns only
once this host's read model shows it, so the very next public read, which does not
wait for anything, sees the change. Without the writers' barrier these reads race the
change stream and the assertions fail intermittently-to-always on this machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.read_model.barrier import ReadBarrier
from service.read_model.runtime import read_model_path
from service.read_model.store import Readers
from service.settings import ReadConsistency
from service.storage.collections import Database
from service.sync.engine import execute
from service.sync.runs import Mode, start_run
from service.sync.sources import SourceSpec, add_source
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.service.partner.test_partner import community, partner_key, upserted, withdraw

NAMES = """
query($first: Int!) {
  communities(first: $first, sort: NAME) {
    totalCount
    edges { node { name } }
  }
}
"""

LEASE = timedelta(minutes=5)

MAPPING = {
    "entity": "community",
    "external_id": "id",
    "fields": {
        "name.ru": "name",
        "kind": {"value": "national"},
        "form": {"value": "association"},
        "countries": {"value": ["RU"]},
    },
}


@pytest.fixture
async def api(mongo_uri: str, db: Database, tmp_path: Path) -> AsyncIterator[GraphQLClient]:
    # The response cache stays on with its default bound: every read below is the
    # first of its variables, so a hit cannot hide a missing change.
    settings = settings_for(
        mongo_uri, db.name, data_dir=tmp_path, read_consistency=ReadConsistency.SESSION
    )
    async for http in client_for(settings):
        yield GraphQLClient(http)


async def names(api: GraphQLClient, first: int) -> list[str]:
    data: dict[str, Any] = await api.data(NAMES, {"first": first})
    return [edge["node"]["name"] for edge in data["communities"]["edges"]]


async def test_a_partner_upsert_and_withdrawal_show_in_the_next_read(
    api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    await upserted(
        api, key, [{"externalId": "a", "community": {**community(), "name": {"ru": "Альфа"}}}]
    )
    assert await names(api, 10) == ["Альфа"]

    assert "errors" not in await withdraw(api, key, ["a"])
    assert await names(api, 11) == []


async def test_a_sync_batch_shows_in_the_next_read(
    api: GraphQLClient, db: Database, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    registry = files / "registry.csv"
    registry.write_text("id;name\n1;Бета\n2;Гамма\n", encoding="utf-8")
    spec = SourceSpec(
        id="registry",
        name="registry",
        family="association",
        kind="csv",
        config={"url": registry.as_uri(), "mapping": MAPPING},
    )
    await add_source(db, spec)
    # The barrier the instance's in-process worker would use: this host's read model.
    barrier = ReadBarrier(db, Readers(read_model_path(tmp_path, db.name)), timeout_s=30)
    async with SafeFetcher(FetchPolicy(allow_file_roots=[str(files)])) as fetcher:
        # What the worker does with a queued run: claim it, execute it with the barrier.
        lease, _ = await start_run(db, "registry", Mode.FULL, "api", "test-worker", LEASE)
        run = await execute(db, lease, fetcher, ttl=LEASE, barrier=barrier)
    assert run["status"] == "succeeded", run
    assert barrier.timeouts == 0
    assert await names(api, 10) == ["Бета", "Гамма"]
