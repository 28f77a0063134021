"""Bulk writes, with the one retry two racing writers need."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from service.storage import transactions
from service.storage.collections import Database


async def bulk_write(
    db: Database, collection: str, operations: list[UpdateOne], *, retry_duplicates: bool = False
) -> None:
    try:
        await db[collection].bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        # Two writers upserting the same new key race on the unique index; the
        # loser's retry finds the winner's document and updates it instead. In a
        # transaction the error has aborted it: the whole unit runs again instead.
        if retry_duplicates and transactions.only_duplicates(error) and not transactions.running():
            await db[collection].bulk_write(operations, ordered=False)
            return
        raise


async def insert_new(
    db: Database,
    collection: str,
    inserts: Sequence[InsertOne[dict[str, Any]]],
    upsert: Callable[[int], UpdateOne],
) -> None:
    """Insert documents read as absent; `upsert(i)` is the update that writes the same
    document as `inserts[i]` whether or not it exists.

    An insert is the cheapest write there is (no document to find, no update to
    evaluate). One another writer inserted since it was read as absent fails on the
    unique index: outside a transaction its upsert is sent instead; inside one the
    error has aborted the transaction, which runs again and reads it as present.
    """
    if not inserts:
        return
    try:
        await db[collection].bulk_write(list(inserts), ordered=False)
    except BulkWriteError as error:
        if not transactions.only_duplicates(error) or transactions.running():
            raise
        failed = [upsert(e["index"]) for e in error.details["writeErrors"]]
        await bulk_write(db, collection, failed, retry_duplicates=True)
