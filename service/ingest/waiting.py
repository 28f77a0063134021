"""Listings waiting for a community that had not arrived are applied when it does."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from schema.taxonomy import EntityType
from service.ingest.apply import apply
from service.ingest.items import APPLY_ORDER, BatchItem
from service.ingest.validation import stored_item
from service.storage import stored
from service.storage.collections import LISTINGS, Database


async def resolve_waiting(db: Database, applied: list[BatchItem], now: datetime) -> None:
    """Re-apply listings that were waiting for communities which have now arrived."""
    arrived: dict[str, list[str]] = defaultdict(list)
    for item in applied:
        if item.listing.entity is EntityType.COMMUNITY:
            arrived[item.listing.source_id].append(item.listing.external_id)
    for source_id, external_ids in arrived.items():
        cursor = db[LISTINGS].find({"source_id": source_id, "waiting_for": {"$in": external_ids}})
        retry: list[BatchItem] = []
        async for raw in cursor:
            waited = stored_item(stored.listing(raw), 0)
            if waited is not None:
                retry.append(waited)
        retry.sort(key=lambda i: APPLY_ORDER[i.listing.entity])
        await apply(db, retry, now)
