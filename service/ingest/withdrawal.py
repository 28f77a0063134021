"""Withdrawing listings a source no longer has.

The listing is kept (state "withdrawn", raw record intact); the entity loses that
source's provenance entry and leaves the API only when no source supports it. Where
other listings still feed it, their values stay and each field's winner is chosen
again among them (service.ingest.survivorship).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from schema.taxonomy import EntityType
from service.ingest import survivorship
from service.ingest.items import COLLECTION
from service.ingest.tombstones import TOMBSTONE_FIELDS, record_withdrawals
from service.storage.collections import LISTINGS, Database
from service.storage.lookups import source_listings

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
    # Events first: their tombstones name their organizers' industries, which must
    # still be readable (an organizer may be withdrawn in this same pass).
    for entity, pairs in sorted(by_entity.items(), key=lambda item: item[0] != EntityType.EVENT):
        collection = db[COLLECTION[entity]]
        withdrawn = {(entity_id, source_id, external_id) for entity_id, external_id in pairs}
        gone: list[ObjectId] = []
        gone_docs: list[dict[str, Any]] = []
        pulls: list[UpdateOne] = []
        shared: list[dict[str, Any]] = []
        async for doc in collection.find(
            {"_id": {"$in": [entity_id for entity_id, _ in pairs]}},
            {"sources": 1, "contributions": 1, "clusters": 1, **TOMBSTONE_FIELDS},
        ):
            provenance = {(doc["_id"], s["source_id"], s["external_id"]) for s in doc["sources"]}
            if provenance <= withdrawn:
                gone.append(doc["_id"])  # no source supports it any more: off the API
                gone_docs.append(doc)
            elif doc.get("contributions"):
                shared.append(doc)
            else:
                pulls.extend(
                    UpdateOne(
                        {"_id": doc["_id"]},
                        {"$pull": {"sources": {"source_id": source_id, "external_id": ext}}},
                    )
                    for _, _, ext in provenance & withdrawn
                )
        if shared:
            pulls += await _recompute(db, entity, shared, withdrawn)
        if pulls:
            await collection.bulk_write(pulls, ordered=False)
        if gone:
            # Tombstone first: a crash in between repeats the notice, never loses it.
            await record_withdrawals(db, entity, gone_docs)
            await collection.delete_many({"_id": {"$in": gone}})
    await db[LISTINGS].update_many(
        {"source_id": source_id, "external_id": {"$in": [d["external_id"] for d in stale]}},
        {"$set": {"state": "withdrawn", "withdrawn_at": datetime.now(UTC)}},
    )
    return len(stale)


async def _recompute(
    db: Database,
    entity: EntityType,
    docs: list[dict[str, Any]],
    withdrawn: set[tuple[ObjectId, str, str]],
) -> list[UpdateOne]:
    """The writes of entities other listings still feed: the withdrawn listings'
    values leave with them, and each field's winner is chosen again among the rest."""
    others = {s["source_id"] for doc in docs for s in doc["sources"]}
    priorities = await survivorship.load_priorities(db, others)
    now = datetime.now(UTC)
    leaving_of: dict[ObjectId, set[tuple[str, str]]] = defaultdict(set)
    for entity_id, source_id, external_id in withdrawn:
        leaving_of[entity_id].add((source_id, external_id))
    updates: list[UpdateOne] = []
    for doc in docs:
        leaving = leaving_of[doc["_id"]]
        sources = [s for s in doc["sources"] if survivorship.key(s) not in leaving]
        contributions = [
            c for c in survivorship.current(entity, doc) if survivorship.key(c) not in leaving
        ]
        if contributions:
            values, unset = survivorship.entity_set(
                entity, contributions, priorities, doc.get("clusters", [])
            )
        else:  # the others' values were never kept (merged in): those shown stay
            values, unset = {}, list(survivorship.STORED)
        update: dict[str, Any] = {"$set": {**values, "sources": sources, "updated_at": now}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        updates.append(UpdateOne({"_id": doc["_id"]}, update))
    return updates


async def withdraw_listings(db: Database, source_id: str, external_ids: list[str]) -> set[str]:
    """Withdraw these listings of one source; the ids it has (applied or withdrawn before).

    Ids the source never applied (unknown, another source's, only ever rejected) are
    left out of the answer and change nothing; withdrawing twice changes nothing more.
    """
    if not external_ids:
        return set()
    found = await source_listings(
        db, source_id, external_ids, {"external_id": 1, "entity": 1, "entity_id": 1, "state": 1}
    )
    docs = [doc for doc in found if doc.get("state") in ("applied", "withdrawn")]
    applied = [doc for doc in docs if doc["state"] == "applied"]
    if applied:
        await _withdraw(db, source_id, applied)
    return {doc["external_id"] for doc in docs}
