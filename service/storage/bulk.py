"""Bulk writes, with the one retry two racing upserts need."""

from __future__ import annotations

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from service.storage.collections import Database

DUPLICATE_KEY = 11000


async def bulk_write(
    db: Database, collection: str, operations: list[UpdateOne], *, retry_duplicates: bool = False
) -> None:
    try:
        await db[collection].bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        codes = {e.get("code") for e in error.details.get("writeErrors", [])}
        # Two writers upserting the same new key race on the unique index; the
        # loser's retry finds the winner's document and updates it instead.
        if retry_duplicates and codes == {DUPLICATE_KEY}:
            await db[collection].bulk_write(operations, ordered=False)
            return
        raise
