"""After a long mixed run across two instances, each instance's read model equals MongoDB."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.read_model.barrier import ReadBarrier
from service.read_model.rows import decode_doc, encode_doc
from service.read_model.runtime import read_model_path
from service.read_model.store import Readers
from service.settings import ReadConsistency
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database
from service.sync.engine import run_sync
from service.sync.runs import Mode
from service.sync.sources import SourceSpec, add_source
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.service.partner.test_partner import community, event, partner_key, upserted, withdraw

ROUNDS = 6
ROWS = 150


def write_registry(path: Path, rng: random.Random, round_: int) -> None:
    """A registry whose rows come and go and change between rounds."""
    lines = ["id;name;opf"]
    for n in range(ROWS):
        if rng.random() < 0.15:
            continue  # gone this round: a full pass withdraws it
        lines.append(f"{n};Ассоциация номер {n} (ред. {rng.randrange(3) + round_ // 3});АНО")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


MAPPING = {
    "entity": "community",
    "external_id": "id",
    "fields": {
        "name.ru": "name",
        "kind": {"value": "national"},
        "form": {"source": "opf", "values": {"АНО": "association"}},
        "countries": {"value": ["RU"]},
    },
}


@contextlib.asynccontextmanager
async def instance(mongo_uri: str, db: Database, data_dir: Path) -> AsyncIterator[GraphQLClient]:
    settings = settings_for(
        mongo_uri, db.name, data_dir=data_dir, read_consistency=ReadConsistency.SESSION
    )
    async for http in client_for(settings):
        yield GraphQLClient(http)


def projected(path: Path) -> dict[str, dict[str, bytes]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {
            table: {row[0]: row[1] for row in connection.execute(f"SELECT id, doc FROM {table}")}  # noqa: S608
            for table in (COMMUNITIES, EVENTS, STANDARDS)
        }


async def stored(db: Database) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        collection: {str(doc["_id"]): doc async for doc in db[collection].find({})}
        for collection in (COMMUNITIES, EVENTS, STANDARDS)
    }


async def test_two_instances_hold_exactly_what_mongodb_holds_after_a_mixed_run(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    registry = tmp_path / "files" / "registry.csv"
    registry.parent.mkdir()
    await add_source(
        db,
        SourceSpec(
            id="registry",
            name="registry",
            family="association",
            kind="csv",
            config={"url": registry.as_uri(), "mapping": MAPPING},
        ),
    )
    key = await partner_key(db)
    policy = FetchPolicy(allow_file_roots=[str(registry.parent)])
    dirs = [tmp_path / "a", tmp_path / "b"]
    async with (
        instance(mongo_uri, db, dirs[0]) as a,
        instance(mongo_uri, db, dirs[1]) as b,
        SafeFetcher(policy) as fetcher,
    ):
        pushed: list[str] = []
        for round_ in range(ROUNDS):
            write_registry(registry, rng, round_)
            run = await run_sync(db, "registry", fetcher, mode=Mode.FULL)
            assert run["status"] == "succeeded", run
            for api in (a, b):
                batch = [
                    {"externalId": f"p{rng.randrange(40)}", "community": community(f"P {round_}")}
                    for _ in range(8)
                ]
                organizer = batch[0]["externalId"]
                batch.append({"externalId": f"e{round_}", "event": event(organizers=[organizer])})
                deduplicated = list({item["externalId"]: item for item in batch}.values())
                await upserted(api, key, deduplicated)
                pushed += [item["externalId"] for item in deduplicated]
            gone = rng.sample(sorted(set(pushed)), 5)
            assert "errors" not in await withdraw(b, key, gone)

        expected = await stored(db)
        assert expected[COMMUNITIES]
        assert expected[EVENTS]
        for data_dir in dirs:
            path = read_model_path(data_dir, db.name)
            # Everything written before this point is applied once this returns.
            assert await ReadBarrier(db, Readers(path), timeout_s=30).wait()
            holds = projected(path)
            for collection, docs in expected.items():
                assert set(holds[collection]) == set(docs), (data_dir, collection)
                for entity_id, doc in docs.items():
                    assert decode_doc(holds[collection][entity_id]) == decode_doc(
                        encode_doc(doc)
                    ), (data_dir, collection, entity_id)
