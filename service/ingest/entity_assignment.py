"""Which entity each listing feeds: its own, one another source feeds, or a new one."""

from __future__ import annotations

import hashlib

from bson import ObjectId

from service.ingest import matching
from service.ingest.items import COLLECTION, BatchItem
from service.storage.collections import Database


async def assign_entities(db: Database, items: list[BatchItem]) -> None:
    """Which entity each listing feeds: its own, one another source feeds, or a new one."""
    for item in items:
        item.match_keys = matching.match_keys(item.listing, item.valid)
    for entity in matching.ENTITY_ORDER:
        group = [i for i in items if i.listing.entity is entity]
        new = [i for i in group if not (i.existing and i.existing.get("entity_id"))]
        keys = sorted({key for item in new for key in item.match_keys})
        holders = await matching.find_entities(db, COLLECTION[entity], keys)
        for item in group:
            known = item.existing.get("entity_id") if item.existing else None
            source_id = item.listing.source_id
            matched = matching.pick(holders, item.match_keys, source_id)
            item.entity_id = known or matched or entity_id_for(source_id, item.listing.external_id)
            # Later listings of this batch from other sources with the same key join it.
            for key in item.match_keys:
                holders.setdefault(key, []).insert(
                    0, matching.Holder(item.entity_id, frozenset({source_id}))
                )


def entity_id_for(source_id: str, external_id: str) -> ObjectId:
    """The id a listing's entity gets when it is first seen: stable across retries."""
    digest = hashlib.sha256(f"{source_id}\x00{external_id}".encode()).digest()
    return ObjectId(digest[:12])
