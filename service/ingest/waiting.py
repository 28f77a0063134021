"""Listings waiting for a community that had not arrived are applied when it does."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from schema.models import (
    Listing,
)
from schema.taxonomy import EntityType
from service.ingest.apply import apply
from service.ingest.items import APPLY_ORDER, BatchItem
from service.ingest.validation import validate
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
            doc = stored.listing(raw)
            listing = Listing(
                entity=EntityType(doc["entity"]),
                source_id=doc["source_id"],
                external_id=doc["external_id"],
                payload=doc["payload"],
                url=doc.get("url"),
                fetched_at=doc["fetched_at"].replace(tzinfo=UTC),
            )
            data, errors = validate(listing)
            if data is not None and not errors:
                retry.append(BatchItem(0, listing, doc["hash"], data=data, existing=doc))
        retry.sort(key=lambda i: APPLY_ORDER[i.listing.entity])
        await apply(db, retry, now)
