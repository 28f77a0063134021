"""Writing entities: one atomic update per listing with its provenance, then the listing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from schema.documents import ProvenanceEntry
from schema.models import (
    Listing,
)
from schema.taxonomy import EntityType
from service.documents import normalize
from service.documents.filter_terms import filter_terms
from service.ingest import matching
from service.ingest.entity_assignment import assign_entities
from service.ingest.items import COLLECTION, BatchItem
from service.ingest.last_event import previous_organizers, refresh_last_event
from service.ingest.references import resolve_references
from service.storage.bulk import bulk_write
from service.storage.collections import LISTINGS, Database

# What each entity's document holds that its listing gives (schema.documents: CommunityFields,
# EventFields, StandardFields); `_write_entities` adds what the server owns (EntityBase).
ENTITY_FIELDS: dict[
    EntityType, Callable[[Any, normalize.Refs, ObjectId, datetime], Mapping[str, Any]]
] = {
    EntityType.COMMUNITY: normalize.community_fields,
    EntityType.EVENT: normalize.event_fields,
    EntityType.STANDARD: normalize.standard_fields,
}


async def apply(
    db: Database, items: list[BatchItem], now: datetime, seen_epoch: str | None = None
) -> None:
    if not items:
        return
    await assign_entities(db, items)
    refs = await resolve_references(db, items)
    organizers_before = await previous_organizers(db, items)
    for entity in (EntityType.COMMUNITY, EntityType.STANDARD, EntityType.EVENT):
        group = [i for i in items if i.listing.entity is entity]
        if group:
            await _write_entities(db, entity, group, refs, now)
    await _record_applied(db, items, now, seen_epoch)
    await refresh_last_event(db, items, organizers_before)


def _literal(fields: Mapping[str, Any]) -> dict[str, Any]:
    # Values go through an update pipeline, where a string such as "$100" would be
    # read as a field path: wrap every value so it is stored exactly as given.
    return {name: {"$literal": value} for name, value in fields.items()}


def _with_provenance(listing: Listing) -> dict[str, Any]:
    entry: ProvenanceEntry = {
        "source_id": listing.source_id,
        "external_id": listing.external_id,
        "url": listing.url,
        "fetched_at": listing.fetched_at,
    }
    others = {
        "$filter": {
            "input": {"$ifNull": ["$sources", []]},
            "as": "s",
            "cond": {
                "$not": [
                    {
                        "$and": [
                            {"$eq": ["$$s.source_id", listing.source_id]},
                            {"$eq": ["$$s.external_id", listing.external_id]},
                        ]
                    }
                ]
            },
        }
    }
    return {"$concatArrays": [others, [{"$literal": entry}]]}


async def _write_entities(
    db: Database,
    entity: EntityType,
    items: list[BatchItem],
    refs: dict[str, dict[str, ObjectId]],
    now: datetime,
) -> None:
    slugs = await _slugs(db, entity, items)
    operations = []
    for item in items:
        source_refs = refs.get(item.listing.source_id, {})
        item.waiting_for = sorted(
            {r for r in normalize.references(item.valid) if r not in source_refs}
        )
        fields = ENTITY_FIELDS[entity](item.valid, source_refs, item.id, now)
        terms = filter_terms(fields) + matching.as_terms(item.match_keys)
        item.organizers = fields.get("organizers", [])
        update = {
            **_literal(fields),
            # Hard keys other sources contributed stay findable after this write.
            "filter_terms": {
                "$setUnion": [
                    {"$literal": terms},
                    {
                        "$filter": {
                            "input": {"$ifNull": ["$filter_terms", []]},
                            "as": "t",
                            "cond": {
                                "$eq": [
                                    {"$substrCP": ["$$t", 0, len(matching.PREFIX)]},
                                    matching.PREFIX,
                                ]
                            },
                        }
                    },
                ]
            },
            "updated_at": {"$literal": now},
            "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
            "slug": {"$ifNull": ["$slug", {"$literal": slugs[item.id]}]},
            "sources": _with_provenance(item.listing),
        }
        if entity is EntityType.COMMUNITY:
            # Maintained from the community's events, never from its own listing.
            update["last_event_at"] = {
                "$ifNull": ["$last_event_at", {"$literal": normalize.NO_EVENTS}]
            }
            # Memberships cluster registries asserted (service.ingest.memberships) outlive
            # this write; the listing's own are kept apart so a cluster's retraction spares them.
            clusters = {"$ifNull": ["$clusters", []]}
            update["own_member_of"] = {"$literal": fields["member_of"]}
            update["member_of"] = {
                "$concatArrays": [
                    {"$literal": fields["member_of"]},
                    {
                        "$filter": {
                            "input": clusters,
                            "as": "c",
                            "cond": {"$not": [{"$in": ["$$c", {"$literal": fields["member_of"]}]}]},
                        }
                    },
                ]
            }
            update["filter_terms"]["$setUnion"].append(
                {
                    "$map": {
                        "input": clusters,
                        "as": "c",
                        "in": {"$concat": ["member_of=", {"$toString": "$$c"}]},
                    }
                }
            )
        operations.append(UpdateOne({"_id": item.id}, [{"$set": update}], upsert=True))
    await bulk_write(db, COLLECTION[entity], operations)


async def _slugs(db: Database, entity: EntityType, items: list[BatchItem]) -> dict[ObjectId, str]:
    """A readable unique slug per new entity; a clash gets the id's tail appended."""
    wanted: dict[ObjectId, str] = {}
    for item in items:
        wanted[item.id] = normalize.slug_base(item.valid)
    taken: dict[str, ObjectId] = {}
    cursor = db[COLLECTION[entity]].find({"slug": {"$in": list(set(wanted.values()))}}, {"slug": 1})
    async for doc in cursor:
        taken[doc["slug"]] = doc["_id"]
    slugs: dict[ObjectId, str] = {}
    for entity_id, slug in wanted.items():
        owner = taken.get(slug)
        if owner is not None and owner != entity_id:
            slug = f"{slug}-{str(entity_id)[-6:]}"
        taken.setdefault(slug, entity_id)
        slugs[entity_id] = slug
    return slugs


async def _record_applied(
    db: Database, items: list[BatchItem], now: datetime, seen_epoch: str | None
) -> None:
    """Keep the raw record the entity now reflects (after the entity write, see above)."""
    operations = [
        UpdateOne(
            {"source_id": i.listing.source_id, "external_id": i.listing.external_id},
            {
                "$set": {
                    "entity": i.listing.entity.value,
                    "entity_id": i.id,
                    "hash": i.hash,
                    "applied_hash": i.hash,
                    "payload": i.listing.payload,
                    "url": i.listing.url,
                    "fetched_at": i.listing.fetched_at,
                    "received_at": now,
                    "state": "applied",
                    "waiting_for": i.waiting_for,
                    **({"seen_epoch": seen_epoch} if seen_epoch else {}),
                },
                "$unset": {"rejected": ""},
            },
            upsert=True,
        )
        for i in items
    ]
    await bulk_write(db, LISTINGS, operations, retry_duplicates=True)
