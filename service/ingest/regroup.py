"""Moving listings between entities: merging entities into one, splitting one apart.

Merging keeps the survivor's id; every listing of the merged-away entities moves to
it (their listing documents say so, so later syncs keep them there), their
provenance and keys join the survivor's, references to them point to the survivor,
and their ids are kept in `entity_redirects` so links to them still resolve
(service.matching.redirects). Splitting is service.ingest.split.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from schema.taxonomy import EntityType
from service.ingest import survivorship
from service.ingest.items import COLLECTION
from service.ingest.tombstones import record_withdrawals
from service.matching import redirects
from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, STANDARDS, Database

# Where entities point at communities: (collection, field, is an array).
_REFERENCES = (
    (COMMUNITIES, "member_of", True),
    (COMMUNITIES, "own_member_of", True),
    (COMMUNITIES, "clusters", True),
    (COMMUNITIES, "partners", True),
    (EVENTS, "organizers", True),
    (STANDARDS, "adopters", True),
    (STANDARDS, "issuer", False),
)


async def merge_into(
    db: Database,
    entity: EntityType,
    survivor: ObjectId,
    absorbed: Sequence[ObjectId],
    now: datetime,
) -> list[ObjectId]:
    """Merge `absorbed` entities into `survivor`; the ids actually merged away."""
    collection = db[COLLECTION[entity]]
    wanted = [a for a in dict.fromkeys(absorbed) if a != survivor]
    if not wanted:
        return []
    # Whole documents: their values compete for each field of the survivor.
    docs = await collection.find({"_id": {"$in": wanted}}).to_list()
    kept = await collection.find_one({"_id": survivor})
    if not docs or kept is None:
        return []
    sources = [s for d in docs for s in d.get("sources", [])]
    keys = sorted({k for d in docs for k in d.get("match_keys", [])})
    clusters = sorted({c for d in [kept, *docs] for c in d.get("clusters", [])})
    values = await _survivors(db, entity, [kept, *docs], clusters)
    update: dict[str, Any] = {
        "$push": {"sources": {"$each": sources}},
        "$addToSet": {"match_keys": {"$each": keys}},
        "$set": {**values, "updated_at": now},
    }
    if clusters:
        update["$addToSet"]["clusters"] = {"$each": clusters}
    await collection.update_one({"_id": survivor}, update)
    await move_listings(db, sources, survivor)
    gone = [d["_id"] for d in docs]
    if entity is EntityType.COMMUNITY:
        for old in gone:
            await _repoint(db, old, survivor)
    await record_withdrawals(db, entity, docs)
    await collection.delete_many({"_id": {"$in": gone}})
    await redirects.record(db, entity.value, gone, survivor, now)
    return gone


async def _survivors(
    db: Database, entity: EntityType, docs: Sequence[dict[str, Any]], clusters: list[ObjectId]
) -> dict[str, Any]:
    """The merged entity's fields: each chosen among every listing that now feeds it
    (service.ingest.survivorship), so a merge keeps every source's values in play."""
    contributions = {
        survivorship.key(c): c for doc in docs for c in survivorship.current(entity, doc)
    }
    if not contributions:
        return {}
    priorities = await survivorship.load_priorities(db, (k[0] for k in contributions))
    values, _ = survivorship.entity_set(entity, list(contributions.values()), priorities, clusters)
    return values


async def move_listings(db: Database, sources: list[dict[str, Any]], to: ObjectId) -> None:
    # By (source, external id): the listings' unique index, not a scan for entity ids.
    moves = [
        UpdateOne(
            {"source_id": s["source_id"], "external_id": s["external_id"]},
            {"$set": {"entity_id": to}},
        )
        for s in sources
    ]
    if moves:
        await db[LISTINGS].bulk_write(moves, ordered=False)


async def _repoint(db: Database, old: ObjectId, new: ObjectId) -> None:
    for collection, field, array in _REFERENCES:
        if not array:
            await db[collection].update_many({field: old}, {"$set": {field: new}})
            continue
        replaced = {
            "$map": {
                "input": f"${field}",
                "as": "x",
                "in": {"$cond": [{"$eq": ["$$x", old]}, new, "$$x"]},
            }
        }
        await db[collection].update_many({field: old}, [{"$set": {field: replaced}}])
