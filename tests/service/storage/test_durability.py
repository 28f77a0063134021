"""An acknowledged write survives a SIGKILL of the embedded database.

Each trial drives the real API (the app over ASGI, its lifespan running, a partner key)
against an embedded server on one data directory: a seeded-random number of
`upsertListings` calls of seeded-random sizes (single listings among them), then SIGKILL
of the server the moment the last answer is in, and a restart on the same files. After
every restart each listing ever acknowledged as CREATED must be there: its entity, and
its raw record in `listings` in state "applied"; and the last call before the kill, sent
again with its idempotency key, must be answered from its stored idempotency record.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bson import ObjectId

from schema.relay import from_global_id
from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES, LISTINGS
from service.storage.embedded import EmbeddedDatabase
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.service.partner.test_partner import community, partner_key, upsert

SEED = 20260611
TRIALS = 20
DATABASE = "durability"
SOURCE = "acme"


@contextlib.asynccontextmanager
async def api_on(uri: str) -> AsyncIterator[GraphQLClient]:
    """The app over ASGI with its lifespan, on the database at `uri`."""
    clients = client_for(settings_for(uri, DATABASE))
    async with contextlib.aclosing(clients):
        yield GraphQLClient(await anext(clients))


async def started(data: Path, port: int | None = None) -> EmbeddedDatabase:
    """A server as the service runs it (fsync on every commit)."""
    server = EmbeddedDatabase(data, port=port)
    await server.start(60)
    return server


async def stored(uri: str, acknowledged: dict[str, ObjectId]) -> tuple[int, int]:
    """How many acknowledged listings have their entity, and their applied raw record."""
    client = mongo_client(uri)
    try:
        db = client[DATABASE]
        entities = await db[COMMUNITIES].count_documents(
            {"_id": {"$in": list(acknowledged.values())}}
        )
        records = await db[LISTINGS].count_documents(
            {"source_id": SOURCE, "external_id": {"$in": list(acknowledged)}, "state": "applied"}
        )
        return entities, records
    finally:
        await client.close()


async def test_every_acknowledged_listing_survives_a_sigkill_of_the_database(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    data = tmp_path / "db"
    server = await started(data)
    setup = mongo_client(server.uri)
    key = await partner_key(setup[DATABASE], SOURCE)
    await setup.close()

    acknowledged: dict[str, ObjectId] = {}
    calls = replayed = 0
    # The last call before a kill: (batch, idempotency key, the answer).
    last: tuple[list[dict[str, Any]], str, dict[str, Any]] | None = None
    try:
        for trial in range(TRIALS):
            async with api_on(server.uri) as api:
                if last is not None:
                    batch, idempotency_key, answer = last
                    again = await upsert(api, key, batch, idempotency_key)
                    assert again == answer, f"trial {trial}: the replay was not the answer"
                    replayed += 1
                for call in range(rng.randint(1, 3)):
                    size = rng.choice(
                        [1, 1, 1, rng.randint(2, 10), rng.randint(10, 40), rng.randint(60, 100)]
                    )
                    batch = [
                        {
                            "externalId": f"t{trial}-c{call}-{n}",
                            "community": community(f"Durable community {trial} {call} {n}"),
                        }
                        for n in range(size)
                    ]
                    idempotency_key = f"trial-{trial}-call-{call}"
                    answer = await upsert(api, key, batch, idempotency_key)
                    assert "errors" not in answer, answer["errors"]
                    calls += 1
                    for result in answer["data"]["upsertListings"]["results"]:
                        assert result["outcome"] == "CREATED", result
                        acknowledged[result["externalId"]] = ObjectId(
                            from_global_id(result["entityId"])[1]
                        )
                    last = batch, idempotency_key, answer
                # The moment the last acknowledgement is in.
                assert server.pid is not None
                os.kill(server.pid, signal.SIGKILL)
                # Restarted on the same port before the app stops, so its shutdown
                # talks to a server (what is measured here is the data, not shutdown).
                server.stop()
                server = await started(data, port=server.port)
            entities, records = await stored(server.uri, acknowledged)
            figures = (
                f"after {trial + 1} of {TRIALS} kills and {calls} acknowledged calls: "
                f"{len(acknowledged)} listings acknowledged, {entities} entities and "
                f"{records} applied raw records found; {replayed} replays answered from "
                "their idempotency record"
            )
            assert (entities, records) == (len(acknowledged), len(acknowledged)), figures
    finally:
        server.stop()
    print(figures)
