"""Withdrawing listings a source no longer has.

The listing is kept (state "withdrawn", raw record intact); the entity loses that
source's provenance entry and leaves the API only when no source supports it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from schema.taxonomy import EntityType
from service.db import LISTINGS, Database
from service.ingest import COLLECTION

CHUNK = 1000


async def withdraw_unseen(db: Database, source_id: str, epoch: str) -> int:
    """Withdraw the source's applied listings not seen in full pass `epoch`; how many.

    Read in chunks: a registry of 50,000 listings must not sit in memory at once.
    """
    withdrawn = 0
    chunk: list[dict[str, Any]] = []
    cursor = (
        db[LISTINGS]
        .find(
            {"source_id": source_id, "state": "applied"},
            {"external_id": 1, "entity": 1, "entity_id": 1, "seen_epoch": 1},
        )
        .batch_size(CHUNK)
    )  # else one reply of up to 16 MB is decoded at once
    async for doc in cursor:
        if doc.get("seen_epoch") != epoch:
            chunk.append(doc)
        if len(chunk) >= CHUNK:
            withdrawn += await _withdraw(db, source_id, chunk)
            chunk = []
    if chunk:
        withdrawn += await _withdraw(db, source_id, chunk)
    return withdrawn


async def _withdraw(db: Database, source_id: str, stale: list[dict[str, Any]]) -> int:
    by_entity: dict[EntityType, list[tuple[ObjectId, str]]] = defaultdict(list)
    for doc in stale:
        by_entity[EntityType(doc["entity"])].append((doc["entity_id"], doc["external_id"]))
    for entity, pairs in by_entity.items():
        collection = db[COLLECTION[entity]]
        withdrawn = {(entity_id, source_id, external_id) for entity_id, external_id in pairs}
        gone: list[ObjectId] = []
        pulls: list[UpdateOne] = []
        async for doc in collection.find(
            {"_id": {"$in": [entity_id for entity_id, _ in pairs]}}, {"sources": 1}
        ):
            provenance = {(doc["_id"], s["source_id"], s["external_id"]) for s in doc["sources"]}
            if provenance <= withdrawn:
                gone.append(doc["_id"])  # no source supports it any more: off the API
            else:
                pulls.extend(
                    UpdateOne(
                        {"_id": doc["_id"]},
                        {"$pull": {"sources": {"source_id": source_id, "external_id": ext}}},
                    )
                    for _, _, ext in provenance & withdrawn
                )
        if pulls:
            await collection.bulk_write(pulls, ordered=False)
        if gone:
            await collection.delete_many({"_id": {"$in": gone}})
    await db[LISTINGS].update_many(
        {"source_id": source_id, "external_id": {"$in": [d["external_id"] for d in stale]}},
        {"$set": {"state": "withdrawn", "withdrawn_at": datetime.now(UTC)}},
    )
    return len(stale)
