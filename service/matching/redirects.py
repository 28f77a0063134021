"""Ids of merged-away entities, and the entity each now resolves to.

A link a frontend kept (a global id, a federation reference) names an entity that
may since have been merged into another: `resolve` follows the redirect. Chains
are kept one step long: merging a survivor away repoints the redirects to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bson import ObjectId
from pymongo import UpdateOne

from service.storage.collections import ENTITY_REDIRECTS, Database


async def record(
    db: Database, entity: str, gone: Sequence[ObjectId], survivor: ObjectId, now: datetime
) -> None:
    if not gone:
        return
    await db[ENTITY_REDIRECTS].update_many(
        {"to": {"$in": list(gone)}}, {"$set": {"to": survivor, "at": now}}
    )
    await db[ENTITY_REDIRECTS].bulk_write(
        [
            UpdateOne(
                {"_id": old},
                {"$set": {"to": survivor, "entity": entity, "at": now}},
                upsert=True,
            )
            for old in gone
        ],
        ordered=False,
    )
    # A survivor is never itself redirected (it may have been merged away before and
    # split back out).
    await db[ENTITY_REDIRECTS].delete_one({"_id": survivor})


async def resolve(db: Database, ids: Iterable[ObjectId]) -> dict[ObjectId, ObjectId]:
    """old id -> the entity it was merged into, for those of `ids` that were."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    cursor = db[ENTITY_REDIRECTS].find({"_id": {"$in": wanted}}, {"to": 1})
    return {doc["_id"]: doc["to"] async for doc in cursor}


async def forget(db: Database, ids: Iterable[ObjectId]) -> None:
    """These ids are entities again (split back out): no redirect for them."""
    wanted = sorted(set(ids))
    if wanted:
        await db[ENTITY_REDIRECTS].delete_many({"_id": {"$in": wanted}})
