"""Splitting an entity: some of its listings become an entity of their own.

The listings move (their listing documents say so, so later syncs keep them
apart), and both entities are rebuilt from the listings that now feed them: fields,
provenance and keys, nothing left from the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bson import ObjectId

from schema.taxonomy import EntityType
from service.ingest.apply import apply
from service.ingest.items import APPLY_ORDER, COLLECTION, BatchItem
from service.ingest.regroup import move_listings
from service.ingest.validation import stored_item
from service.storage import stored
from service.storage.collections import LISTINGS, Database


async def split_off(
    db: Database,
    entity: EntityType,
    entity_id: ObjectId,
    listings: Sequence[tuple[str, str]],
    now: datetime,
) -> ObjectId | None:
    """Move these listings (source id, external id) of the entity to a new entity of
    their own; its id, or None when none of them feeds this entity or all of them do."""
    collection = db[COLLECTION[entity]]
    doc = await collection.find_one({"_id": entity_id}, {"sources": 1})
    if doc is None:
        return None
    feeding = {(s["source_id"], s["external_id"]) for s in doc["sources"]}
    moving = [key for key in dict.fromkeys(listings) if key in feeding]
    staying = sorted(feeding - set(moving))
    if not moving or not staying:
        return None
    new_id = ObjectId()
    await move_listings(db, [{"source_id": s, "external_id": e} for s, e in moving], new_id)
    # Rebuilt from the listings that stay: their fields, provenance and keys only.
    kept = [s for s in doc["sources"] if (s["source_id"], s["external_id"]) in set(staying)]
    await collection.update_one(
        {"_id": entity_id}, {"$set": {"sources": kept, "match_keys": [], "updated_at": now}}
    )
    await reapply(db, [*staying, *moving], now)
    return new_id


async def reapply(db: Database, keys: Sequence[tuple[str, str]], now: datetime) -> None:
    """Write these applied listings to the entities their listing documents name."""
    items: list[BatchItem] = []
    for source_id, external_id in keys:
        raw = await db[LISTINGS].find_one(
            {"source_id": source_id, "external_id": external_id, "state": "applied"}
        )
        if raw is None:
            continue
        item = stored_item(stored.listing(raw), len(items))
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: APPLY_ORDER[i.listing.entity])
    await apply(db, items, now)
