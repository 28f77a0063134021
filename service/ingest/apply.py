"""Writing entities: one atomic write per listing with its provenance, then the listing.

A document that is not there yet is inserted (the cheapest write); one that is gets
an update that merges this listing into it. Both leave the same document behind, so
which one a write takes never matters for what is stored. An entity other listings
feed too is read first and written whole: each field from the listing ranked first
for it (service.ingest.survivorship); an entity one listing feeds never pays for that.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne

from schema.documents import ProvenanceEntry
from schema.models import (
    Listing,
)
from schema.taxonomy import EntityType
from service.documents import normalize
from service.ingest import regroup, survivorship
from service.ingest.entity_assignment import assign_entities
from service.ingest.items import COLLECTION, BatchItem
from service.ingest.references import resolve_references
from service.storage.bulk import bulk_write, insert_new
from service.storage.collections import LISTINGS, Database
from service.storage.lookups import find_in

# What each entity's document holds that its listing gives (schema.documents: CommunityFields,
# EventFields, StandardFields); `_write_entities` adds what the server owns (EntityBase).
ENTITY_FIELDS: dict[EntityType, Callable[[Any, normalize.Refs], Mapping[str, Any]]] = {
    EntityType.COMMUNITY: normalize.community_fields,
    EntityType.EVENT: normalize.event_fields,
    EntityType.STANDARD: normalize.standard_fields,
}


async def apply(
    db: Database, items: list[BatchItem], now: datetime, seen_epoch: str | None = None
) -> None:
    if not items:
        return
    merges = await assign_entities(db, items, now)
    refs = await resolve_references(db, items)
    for entity in (EntityType.COMMUNITY, EntityType.STANDARD, EntityType.EVENT):
        group = [i for i in items if i.listing.entity is entity]
        if group:
            await _write_entities(db, entity, group, refs, now)
    await _record_applied(db, items, now, seen_epoch)
    # Entities a record of this batch showed to be one: merged once all is written, so
    # the listings' own writes above cannot undo the move.
    for merge in merges:
        await regroup.merge_into(db, merge.entity, merge.survivor, [merge.absorbed], now)


def _literal(fields: Mapping[str, Any]) -> dict[str, Any]:
    # Values go through an update pipeline, where a string such as "$100" would be
    # read as a field path: wrap every value so it is stored exactly as given.
    return {name: {"$literal": value} for name, value in fields.items()}


def _provenance(listing: Listing) -> ProvenanceEntry:
    return {
        "source_id": listing.source_id,
        "external_id": listing.external_id,
        "url": listing.url,
        "fetched_at": listing.fetched_at,
    }


def _with_provenance(listing: Listing) -> dict[str, Any]:
    entry = _provenance(listing)
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
    collection = COLLECTION[entity]
    slugs = await _slugs(db, entity, items)
    stored = await _stored_feeds(db, collection, [i.id for i in items])
    # Listings of several sources matched to one new entity in this batch: all merge.
    feeds = Counter(i.id for i in items)
    new: list[tuple[BatchItem, Mapping[str, Any]]] = []
    updates: list[UpdateOne] = []
    shared: dict[ObjectId, list[tuple[BatchItem, Mapping[str, Any]]]] = defaultdict(list)
    for item in items:
        source_refs = refs.get(item.listing.source_id, {})
        item.waiting_for = sorted(
            {r for r in normalize.references(item.valid) if r not in source_refs}
        )
        fields = ENTITY_FIELDS[entity](item.valid, source_refs)
        others = stored.get(item.id, set()) - {item.key}
        if others or feeds[item.id] > 1:
            # Fed by other listings too: each field's value is chosen (survivorship).
            shared[item.id].append((item, fields))
        elif item.id in stored:
            updates.append(_merge(entity, item, fields, slugs[item.id], now))
        else:
            new.append((item, fields))
    await insert_new(
        db,
        collection,
        [InsertOne(_new(entity, item, fields, slugs[item.id], now)) for item, fields in new],
        lambda i: _merge(entity, new[i][0], new[i][1], slugs[new[i][0].id], now),
    )
    if shared:
        updates += await _survivors(db, entity, shared, slugs, now)
    if updates:
        await bulk_write(db, collection, updates)


async def _survivors(
    db: Database,
    entity: EntityType,
    shared: Mapping[ObjectId, list[tuple[BatchItem, Mapping[str, Any]]]],
    slugs: Mapping[ObjectId, str],
    now: datetime,
) -> list[UpdateOne]:
    """The writes of entities several listings feed: every field from the listing
    ranked first for it (service.ingest.survivorship), the others' values kept."""
    projection = {"match_keys": 0, "provenance": 0, "alternatives": 0}
    docs = {
        d["_id"]: d
        for d in await find_in(db, COLLECTION[entity], "_id", sorted(shared), projection)
    }
    source_ids = {i.listing.source_id for group in shared.values() for i, _ in group}
    for doc in docs.values():
        source_ids.update(s["source_id"] for s in doc.get("sources", []))
    priorities = await survivorship.load_priorities(db, source_ids)
    updates: list[UpdateOne] = []
    for entity_id, group in shared.items():
        doc = docs.get(entity_id, {})
        contributions = survivorship.current(entity, doc)
        sources: list[ProvenanceEntry] = list(doc.get("sources", []))
        for item, fields in group:
            listing = item.listing
            contributions = survivorship.replace(
                contributions,
                survivorship.contribution(
                    listing.source_id, listing.external_id, listing.fetched_at, fields
                ),
            )
            sources = [s for s in sources if survivorship.key(s) != item.key]
            sources.append(_provenance(listing))
        values, unset = survivorship.entity_set(
            entity, contributions, priorities, doc.get("clusters", [])
        )
        keys = list(dict.fromkeys(k for i, _ in group for k in i.match_keys))
        update: dict[str, Any] = {
            "$set": {**values, "sources": sources, "updated_at": now},
            "$addToSet": {"match_keys": {"$each": keys}},
            "$setOnInsert": {"created_at": now, "slug": slugs[entity_id]},
        }
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        updates.append(UpdateOne({"_id": entity_id}, update, upsert=True))
    return updates


def _new(
    entity: EntityType, item: BatchItem, fields: Mapping[str, Any], slug: str, now: datetime
) -> dict[str, Any]:
    """The document `_merge` makes of this listing when there is none yet."""
    doc = {
        "_id": item.id,
        **fields,
        "match_keys": list(dict.fromkeys(item.match_keys)),
        "updated_at": now,
        "created_at": now,
        "slug": slug,
        "sources": [_provenance(item.listing)],
    }
    if entity is EntityType.COMMUNITY:
        doc["own_member_of"] = fields["member_of"]
    return doc


def _merge(
    entity: EntityType, item: BatchItem, fields: Mapping[str, Any], slug: str, now: datetime
) -> UpdateOne:
    """This listing merged into its entity's document (created if there is none)."""
    update = {
        **_literal(fields),
        # Hard keys other sources contributed stay findable after this write.
        "match_keys": {
            "$setUnion": [{"$literal": item.match_keys}, {"$ifNull": ["$match_keys", []]}]
        },
        "updated_at": {"$literal": now},
        "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
        "slug": {"$ifNull": ["$slug", {"$literal": slug}]},
        "sources": _with_provenance(item.listing),
    }
    if entity is EntityType.COMMUNITY:
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
    return UpdateOne({"_id": item.id}, [{"$set": update}], upsert=True)


async def _stored_feeds(
    db: Database, collection: str, ids: Collection[ObjectId]
) -> dict[ObjectId, set[tuple[str, str]]]:
    """The listings (source id, external id) feeding each of these stored entities:
    those it names in `sources`, and in `contributions` (which another listing may
    still hold after a split)."""
    projection = {
        "sources.source_id": 1,
        "sources.external_id": 1,
        "contributions.source_id": 1,
        "contributions.external_id": 1,
    }
    docs = await find_in(db, collection, "_id", sorted(set(ids)), projection)
    return {
        doc["_id"]: {
            survivorship.key(s) for s in [*doc.get("sources", []), *doc.get("contributions", [])]
        }
        for doc in docs
    }


async def _slugs(db: Database, entity: EntityType, items: list[BatchItem]) -> dict[ObjectId, str]:
    """A readable unique slug per new entity; a clash gets the id's tail appended."""
    wanted: dict[ObjectId, str] = {}
    for item in items:
        wanted[item.id] = normalize.slug_base(item.valid)
    taken: dict[str, ObjectId] = {}
    bases = sorted(set(wanted.values()))
    for doc in await find_in(db, COLLECTION[entity], "slug", bases, {"slug": 1}):
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
    inserts: list[InsertOne[dict[str, Any]]] = []
    upserts: list[UpdateOne] = []
    updates: list[UpdateOne] = []
    for i in items:
        applied = {
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
        }
        key = {"source_id": i.listing.source_id, "external_id": i.listing.external_id}
        update = UpdateOne(key, {"$set": applied, "$unset": {"rejected": ""}}, upsert=True)
        if i.existing is None:  # no record of it when the batch was read
            inserts.append(InsertOne({**key, **applied}))
            upserts.append(update)
        else:
            updates.append(update)
    await insert_new(db, LISTINGS, inserts, upserts.__getitem__)
    if updates:
        await bulk_write(db, LISTINGS, updates, retry_duplicates=True)
