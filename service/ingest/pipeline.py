"""The ingestion entry point: Listings in, entities with provenance out.

Every record from a connector, a partner mutation or the demo loader passes
through `ingest`. Per batch:

1. validate each payload (`validation`); keep every raw listing, rejected ones
   with reasons (`rejected`);
2. skip listings whose content hash was already applied (no entity write);
3. find the entity each listing feeds (`entity_assignment`, `matching`) and
   resolve references (external ids of the same source) to entity ids
   (`references`); those not known yet wait and are applied when their target
   arrives (`waiting`);
4. write the entity (an insert when it is new, else one atomic update with
   its provenance entry), then record the listing as applied (`apply`).

A new listing's entity id is derived from (source, external id), so a retry
after a crash between steps 4a and 4b writes the same entity again instead of
creating a second one. Writes are bulk operations: a batch costs a handful of
round trips, and each record two writes. Where the server has transactions the
batch's writes are one transaction (service.storage.transactions): one durable
commit instead of one per document. Nothing above depends on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schema.models import (
    Listing,
    ListingOutcome,
)
from schema.taxonomy import EntityType
from service.ingest.apply import apply
from service.ingest.items import APPLY_ORDER, BatchItem, FieldError
from service.ingest.rejected import keep_rejected
from service.ingest.validation import content_hash, validate
from service.ingest.waiting import resolve_waiting
from service.storage.collections import LISTINGS, Database
from service.storage.lookups import chunks, source_listings
from service.storage.transactions import in_transaction

# The API's own vocabulary (schema.models), so the two cannot drift apart.
Outcome = ListingOutcome


@dataclass(frozen=True)
class IngestResult:
    external_id: str
    entity: EntityType
    outcome: Outcome
    entity_id: str | None = None
    errors: tuple[FieldError, ...] = ()


async def ingest(
    db: Database,
    listings: Sequence[Listing],
    *,
    now: datetime | None = None,
    seen_epoch: str | None = None,
) -> list[IngestResult]:
    """Store, normalize and upsert a batch; one result per listing, in order.

    `seen_epoch` marks every listing of the batch as present in that full pass of
    its source, so the pass can withdraw what the source no longer has.
    """
    when = now or datetime.now(UTC)
    items = [BatchItem(i, lst, content_hash(lst.payload)) for i, lst in enumerate(listings)]
    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.key in seen:
            item.errors = [FieldError("externalId", "appears more than once in this batch")]
            continue
        seen.add(item.key)
        item.data, item.errors = validate(item.listing)
    return await in_transaction(db, lambda unit: _store(unit, items, when, seen_epoch))


async def _store(
    db: Database, items: list[BatchItem], now: datetime, seen_epoch: str | None
) -> list[IngestResult]:
    """The batch's reads and writes (run again from the start if its transaction is)."""
    results: list[IngestResult | None] = [None] * len(items)
    existing = await existing_listings(db, [i.key for i in items])
    to_apply: list[BatchItem] = []
    for item in items:
        item.existing = existing.get(item.key)
        if item.data is None:
            continue
        prior = item.existing
        if (
            prior is not None
            and prior.get("state") == "applied"
            and prior.get("applied_hash") == item.hash
            and not prior.get("waiting_for")
        ):
            results[item.index] = _result(item, Outcome.UNCHANGED, prior.get("entity_id"))
        else:
            to_apply.append(item)

    await keep_rejected(db, [i for i in items if i.data is None and i.errors], now)
    for item in items:
        if item.data is None:
            results[item.index] = IngestResult(
                item.listing.external_id,
                item.listing.entity,
                Outcome.REJECTED,
                errors=tuple(item.errors),
            )

    to_apply.sort(key=lambda i: APPLY_ORDER[i.listing.entity])
    await apply(db, to_apply, now, seen_epoch)
    for item in to_apply:
        was_applied = item.existing is not None and item.existing.get("applied_hash") is not None
        outcome = Outcome.UPDATED if was_applied else Outcome.CREATED
        results[item.index] = _result(item, outcome, item.entity_id)

    await resolve_waiting(db, to_apply, now)
    if seen_epoch is not None:
        # Applied listings were marked as they were written; mark the others.
        applied = {i.key for i in to_apply}
        await mark_seen(db, [i.key for i in items if i.key not in applied], seen_epoch)
    return [r for r in results if r is not None]


async def mark_seen(db: Database, keys: list[tuple[str, str]], epoch: str) -> None:
    if not keys:
        return
    by_source: dict[str, list[str]] = defaultdict(list)
    for source_id, external_id in keys:
        by_source[source_id].append(external_id)
    for source_id, external_ids in by_source.items():
        for piece in chunks(external_ids):
            await db[LISTINGS].update_many(
                {"source_id": source_id, "external_id": {"$in": list(piece)}},
                {"$set": {"seen_epoch": epoch}},
            )


def _result(item: BatchItem, outcome: Outcome, entity_id: object) -> IngestResult:
    return IngestResult(
        item.listing.external_id,
        item.listing.entity,
        outcome,
        entity_id=str(entity_id) if entity_id is not None else None,
    )


async def existing_listings(
    db: Database, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for source_id, external_id in keys:
        by_source[source_id].append(external_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for source_id, external_ids in by_source.items():
        docs = await source_listings(db, source_id, external_ids, {"payload": 0, "rejected": 0})
        for doc in docs:
            found[(doc["source_id"], doc["external_id"])] = doc
    return found
