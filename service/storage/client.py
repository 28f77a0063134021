"""Open the database the settings point at: external MongoDB or the embedded server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import AsyncMongoClient

from service.settings import Settings, setting_name
from service.storage.collections import Database
from service.storage.embedded import embedded_database
from service.storage.setup import ensure_collections

# A clean stop of the embedded server takes about two seconds; every acknowledged
# commit is on disk already, so one that takes longer than this is killed.
EMBEDDED_STOP_S = 10.0


@dataclass(frozen=True)
class Storage:
    client: AsyncMongoClient[dict[str, Any]]
    db: Database
    uri: str


def mongo_client(
    uri: str, *, embedded: bool = False, **options: Any
) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose every write is acknowledged only once it is durable.

    Journaled (j) always; on MongoDB also by a majority of the replica set (on a
    standalone server, the server itself); the embedded server is one node, so w=1
    there. Set on the client, so no call site can forget it; `options` may override
    (only the ingestion benchmark does, to measure what durability costs).
    """
    durable: dict[str, Any] = {"w": 1 if embedded else "majority", "journal": True}
    # tz_aware: every datetime the API returns is UTC and says so.
    return AsyncMongoClient(uri, tz_aware=True, appname="guildgraph", **(durable | options))


def closing_s(settings: Settings) -> float:
    """The most closing the storage takes (the end of the shutdown bound is kept for
    it): the client's last round trip, and the embedded server's stop."""
    return settings.db_timeout_s + server_stop_s(settings)


def server_stop_s(settings: Settings) -> float:
    """The most stopping the database server takes: the embedded server's stop; none
    with MONGODB_URI (nothing of ours to stop)."""
    if settings.mongodb_uri is not None:
        return 0.0
    return min(EMBEDDED_STOP_S, settings.shutdown_timeout_s / 4)


async def _close(client: AsyncMongoClient[dict[str, Any]], timeout_s: float) -> None:
    # close() ends the client's sessions on the server: bounded, so a database that is
    # gone, or hangs (a stopped process accepts connections and never answers), cannot
    # stretch a shutdown; the rest of close() is local.
    with pymongo.timeout(timeout_s):
        await client.close()


@contextlib.asynccontextmanager
async def database_server(settings: Settings) -> AsyncIterator[str]:
    """The URI of the database the settings name, for the duration of the block:
    MONGODB_URI as given, or the embedded server on the data directory, started for the
    block (and stopped at its end) or the one already running there.

    Without a client: a program that only keeps the server up for others (`guildgraph
    serve` with several API processes) holds this, and nothing to close at the end.
    """
    if settings.mongodb_uri is not None:
        yield settings.mongodb_uri.get_secret_value()
        return
    async with embedded_database(
        settings.data_dir / "db",
        settings.embedded_start_timeout_s,
        stop_timeout_s=server_stop_s(settings),
        port=settings.embedded_port,
        port_setting=setting_name("embedded_port"),
    ) as uri:
        yield uri


@contextlib.asynccontextmanager
async def open_storage(settings: Settings, **client_options: Any) -> AsyncIterator[Storage]:
    """Yield a connected, schema-ready database; stop what was started on exit."""
    async with contextlib.AsyncExitStack() as stack:
        embedded = settings.mongodb_uri is None
        uri = await stack.enter_async_context(database_server(settings))
        # A database that is gone fails each operation after this bound, not the
        # driver's default 30 s (requests are answered 503 meanwhile).
        selection_ms = int(settings.db_timeout_s * 1000)
        client = mongo_client(
            uri, embedded=embedded, **({"serverSelectionTimeoutMS": selection_ms} | client_options)
        )
        stack.push_async_callback(_close, client, settings.db_timeout_s)
        db = client[settings.database]
        await ensure_collections(db)
        yield Storage(client=client, db=db, uri=uri)
