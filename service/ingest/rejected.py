"""Refused records are kept with their reasons, beside the last good one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

from schema.documents import RefusedRecord
from schema.models import (
    Listing,
)
from schema.taxonomy import EntityType
from service.ingest.entity_assignment import entity_id_for
from service.ingest.items import BatchItem, FieldError
from service.ingest.validation import content_hash
from service.storage.bulk import bulk_write
from service.storage.collections import LISTINGS, Database


async def keep_unusable(
    db: Database,
    entity: EntityType,
    source_id: str,
    rejected: Sequence[tuple[str | None, str, Any]],
) -> None:
    """Keep records a connector could not turn into a listing: (external id, reason, raw).

    They are stored as rejected listings so an admin sees them beside the others; a
    record without an id is keyed by its content.
    """
    items = []
    for external_id, reason, raw in rejected:
        payload = raw if isinstance(raw, dict) else {"raw": raw}
        key = external_id or f"unkeyed:{content_hash(payload)[:24]}"
        listing = Listing(
            entity=entity, source_id=source_id, external_id=key[:200], payload=payload
        )
        item = BatchItem(0, listing, content_hash(payload), errors=[FieldError("record", reason)])
        items.append(item)
    await keep_rejected(db, items, datetime.now(UTC))


async def keep_rejected(db: Database, items: list[BatchItem], now: datetime) -> None:
    """Keep the raw record and why it was refused, beside the last good one.

    `payload`/`hash` always hold the last *applied* record (the one the entity and
    any waiting reference are built from); a refused record goes to `rejected`.
    """
    if not items:
        return
    operations = [
        UpdateOne(
            {"source_id": i.listing.source_id, "external_id": i.listing.external_id},
            {
                "$set": {
                    "entity": i.listing.entity.value,
                    "received_at": now,
                    "rejected": _refused(i),
                },
                # A listing that was applied before stays applied: its entity is still
                # good. A new one reserves its entity id like any other listing.
                "$setOnInsert": {
                    "state": "rejected",
                    "entity_id": entity_id_for(i.listing.source_id, i.listing.external_id),
                },
            },
            upsert=True,
        )
        for i in items
        if i.errors[0].path != "externalId"
    ]
    if operations:
        await bulk_write(db, LISTINGS, operations)


def _refused(item: BatchItem) -> RefusedRecord:
    return {
        "payload": item.listing.payload,
        "hash": item.hash,
        "url": item.listing.url,
        "fetched_at": item.listing.fetched_at,
        "errors": [{"path": e.path, "message": e.message} for e in item.errors],
    }
