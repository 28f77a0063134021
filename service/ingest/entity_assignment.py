"""Which entity each listing feeds: its own, one another source feeds, or a new one.

A listing keeps the entity it was first given (people may move it later, see
service.ingest.regroup). A new one is matched: standards by their code (an exact
hard key), communities and events by scored candidates (service.ingest.entity_resolution).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from bson import ObjectId

from schema.taxonomy import EntityType
from service.ingest import entity_resolution, matching
from service.ingest.items import COLLECTION, BatchItem
from service.matching.policy import load_policy
from service.storage.collections import Database


async def assign_entities(
    db: Database, items: list[BatchItem], now: datetime
) -> list[entity_resolution.Merge]:
    """Set each item's entity id and the match keys its entity stores; the stored
    entities the batch showed to be one, to merge once it is written."""
    for item in items:
        item.match_keys = matching.match_keys(item.listing, item.valid)
    scored = [e for e in (EntityType.COMMUNITY, EntityType.EVENT) if _of(items, e)]
    policy = await load_policy(db) if scored else None
    merges: list[entity_resolution.Merge] = []
    for entity in matching.ENTITY_ORDER:
        group = _of(items, entity)
        if not group:
            continue
        if policy is not None and entity in scored:
            merges += await entity_resolution.resolve(db, entity, group, policy, now, _fresh_id)
        else:
            await _by_hard_keys(db, entity, group)
    return merges


def _of(items: list[BatchItem], entity: EntityType) -> list[BatchItem]:
    return [i for i in items if i.listing.entity is entity]


async def _by_hard_keys(db: Database, entity: EntityType, group: list[BatchItem]) -> None:
    new = [i for i in group if not (i.existing and i.existing.get("entity_id"))]
    keys = sorted({key for item in new for key in item.match_keys})
    holders = await matching.find_entities(db, COLLECTION[entity], keys)
    for item in group:
        known = item.existing.get("entity_id") if item.existing else None
        source_id = item.listing.source_id
        matched = matching.pick(holders, item.match_keys, source_id)
        item.entity_id = known or matched or _fresh_id(item)
        # Later listings of this batch from other sources with the same key join it.
        for key in item.match_keys:
            holders.setdefault(key, []).insert(
                0, matching.Holder(item.entity_id, frozenset({source_id}))
            )


def _fresh_id(item: BatchItem) -> ObjectId:
    return entity_id_for(item.listing.source_id, item.listing.external_id)


def entity_id_for(source_id: str, external_id: str) -> ObjectId:
    """The id a listing's entity gets when it is first seen: stable across retries."""
    digest = hashlib.sha256(f"{source_id}\x00{external_id}".encode()).digest()
    return ObjectId(digest[:12])
