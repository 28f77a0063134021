"""Open the database the settings point at: external MongoDB or the embedded server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from service.settings import Settings
from service.storage.collections import Database
from service.storage.embedded import embedded_database
from service.storage.setup import ensure_collections


@dataclass(frozen=True)
class Storage:
    client: AsyncMongoClient[dict[str, Any]]
    db: Database
    uri: str


def mongo_client(uri: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    # tz_aware: every datetime the API returns is UTC and says so.
    return AsyncMongoClient(uri, tz_aware=True, appname="guildgraph", **options)


@contextlib.asynccontextmanager
async def open_storage(settings: Settings, **client_options: Any) -> AsyncIterator[Storage]:
    """Yield a connected, schema-ready database; stop what was started on exit."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.mongodb_uri is not None:
            uri = settings.mongodb_uri.get_secret_value()
        else:
            uri = await stack.enter_async_context(
                embedded_database(settings.data_dir / "db", settings.embedded_start_timeout_s)
            )
        client = mongo_client(uri, **client_options)
        stack.push_async_callback(client.close)
        db = client[settings.database]
        await ensure_collections(db)
        yield Storage(client=client, db=db, uri=uri)
