"""The ingestion entry point: Listings in, entities with provenance out.

Every record from a connector, a partner mutation or the demo loader passes
through `ingest`. Per batch:

1. validate each payload; keep every raw listing, rejected ones with reasons;
2. skip listings whose content hash was already applied (no entity write);
3. resolve references (external ids of the same source) to entity ids; those
   not known yet are remembered and resolved when their target arrives;
4. upsert the entity (one atomic update, provenance entry included), then
   record the listing as applied.

A new listing's entity id is derived from (source, external id), so a retry
after a crash between steps 4a and 4b writes the same entity again instead of
creating a second one. Writes are bulk operations: a batch costs a handful of
round trips, and each record two writes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import ObjectId
from pydantic import ValidationError
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from schema.models import (
    ENTITY_DATA,
    CommunityData,
    EventData,
    Listing,
    ListingOutcome,
    StandardData,
)
from schema.taxonomy import EntityType
from service.documents import normalize
from service.documents.filter_terms import filter_terms, term
from service.ingest import matching
from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, STANDARDS, Database

EntityData = CommunityData | EventData | StandardData
COLLECTION: dict[EntityType, str] = {
    EntityType.COMMUNITY: COMMUNITIES,
    EntityType.EVENT: EVENTS,
    EntityType.STANDARD: STANDARDS,
}
_FIELDS: dict[EntityType, Callable[[Any, normalize.Refs, ObjectId, datetime], dict[str, Any]]] = {
    EntityType.COMMUNITY: normalize.community_fields,
    EntityType.EVENT: normalize.event_fields,
    EntityType.STANDARD: normalize.standard_fields,
}
# Communities first: events and standards of the same batch point at them.
_ORDER = {EntityType.COMMUNITY: 0, EntityType.STANDARD: 1, EntityType.EVENT: 2}
_DUPLICATE_KEY = 11000


# The API's own vocabulary (schema.models), so the two cannot drift apart.
Outcome = ListingOutcome


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


@dataclass(frozen=True)
class IngestResult:
    external_id: str
    entity: EntityType
    outcome: Outcome
    entity_id: str | None = None
    errors: tuple[FieldError, ...] = ()


@dataclass
class _Item:
    index: int
    listing: Listing
    hash: str
    data: EntityData | None = None
    errors: list[FieldError] = field(default_factory=list)
    existing: dict[str, Any] | None = None
    entity_id: ObjectId | None = None
    waiting_for: list[str] = field(default_factory=list)
    organizers: list[ObjectId] = field(default_factory=list)
    match_keys: list[str] = field(default_factory=list)

    @property
    def valid(self) -> EntityData:
        if self.data is None:
            raise RuntimeError("a rejected listing reached the apply step")
        return self.data

    @property
    def id(self) -> ObjectId:
        if self.entity_id is None:
            raise RuntimeError("the entity id was not reserved before use")
        return self.entity_id

    @property
    def key(self) -> tuple[str, str]:
        return (self.listing.source_id, self.listing.external_id)


def content_hash(payload: dict[str, Any]) -> str:
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


def validation_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(path=".".join(str(p) for p in e["loc"]) or "payload", message=e["msg"])
        for e in error.errors(include_url=False)
    ]


def validate(listing: Listing) -> tuple[EntityData | None, list[FieldError]]:
    try:
        return ENTITY_DATA[listing.entity].model_validate(listing.payload), []
    except ValidationError as error:
        return None, validation_errors(error)


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
    now = now or datetime.now(UTC)
    items = [_Item(i, lst, content_hash(lst.payload)) for i, lst in enumerate(listings)]
    results: list[IngestResult | None] = [None] * len(items)

    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.key in seen:
            item.errors = [FieldError("externalId", "appears more than once in this batch")]
            continue
        seen.add(item.key)
        item.data, item.errors = validate(item.listing)

    existing = await _existing_listings(db, [i.key for i in items])
    to_apply: list[_Item] = []
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

    await _keep_rejected(db, [i for i in items if i.data is None and i.errors], now)
    for item in items:
        if item.data is None:
            results[item.index] = IngestResult(
                item.listing.external_id,
                item.listing.entity,
                Outcome.REJECTED,
                errors=tuple(item.errors),
            )

    to_apply.sort(key=lambda i: _ORDER[i.listing.entity])
    await _apply(db, to_apply, now, seen_epoch)
    for item in to_apply:
        was_applied = item.existing is not None and item.existing.get("applied_hash") is not None
        outcome = Outcome.UPDATED if was_applied else Outcome.CREATED
        results[item.index] = _result(item, outcome, item.entity_id)

    await _resolve_waiting(db, to_apply, now)
    if seen_epoch is not None:
        # Applied listings were marked as they were written; mark the others.
        applied = {i.key for i in to_apply}
        await _mark_seen(db, [i.key for i in items if i.key not in applied], seen_epoch)
    return [r for r in results if r is not None]


async def _mark_seen(db: Database, keys: list[tuple[str, str]], epoch: str) -> None:
    if not keys:
        return
    by_source: dict[str, list[str]] = defaultdict(list)
    for source_id, external_id in keys:
        by_source[source_id].append(external_id)
    for source_id, external_ids in by_source.items():
        await db[LISTINGS].update_many(
            {"source_id": source_id, "external_id": {"$in": external_ids}},
            {"$set": {"seen_epoch": epoch}},
        )


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
        item = _Item(0, listing, content_hash(payload), errors=[FieldError("record", reason)])
        items.append(item)
    await _keep_rejected(db, items, datetime.now(UTC))


def _result(item: _Item, outcome: Outcome, entity_id: object) -> IngestResult:
    return IngestResult(
        item.listing.external_id,
        item.listing.entity,
        outcome,
        entity_id=str(entity_id) if entity_id is not None else None,
    )


async def _existing_listings(
    db: Database, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for source_id, external_id in keys:
        by_source[source_id].append(external_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for source_id, external_ids in by_source.items():
        cursor = db[LISTINGS].find(
            {"source_id": source_id, "external_id": {"$in": external_ids}},
            {"payload": 0, "rejected": 0},
        )
        async for doc in cursor:
            found[(doc["source_id"], doc["external_id"])] = doc
    return found


async def _keep_rejected(db: Database, items: list[_Item], now: datetime) -> None:
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
                    "rejected": {
                        "payload": i.listing.payload,
                        "hash": i.hash,
                        "url": i.listing.url,
                        "fetched_at": i.listing.fetched_at,
                        "errors": [{"path": e.path, "message": e.message} for e in i.errors],
                    },
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
        await _bulk(db, LISTINGS, operations)


async def _apply(
    db: Database, items: list[_Item], now: datetime, seen_epoch: str | None = None
) -> None:
    if not items:
        return
    await _assign_entities(db, items)
    refs = await _references(db, items)
    previous_organizers = await _previous_organizers(db, items)
    for entity in (EntityType.COMMUNITY, EntityType.STANDARD, EntityType.EVENT):
        group = [i for i in items if i.listing.entity is entity]
        if group:
            await _write_entities(db, entity, group, refs, now)
    await _record_applied(db, items, now, seen_epoch)
    await _refresh_last_event(db, items, previous_organizers)


async def _assign_entities(db: Database, items: list[_Item]) -> None:
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


async def _references(db: Database, items: list[_Item]) -> dict[str, dict[str, ObjectId]]:
    """Per source: external id -> community entity id, for every id the batch points at."""
    known: dict[str, dict[str, ObjectId]] = defaultdict(dict)
    wanted: dict[str, set[str]] = defaultdict(set)
    for item in items:
        source = item.listing.source_id
        if item.listing.entity is EntityType.COMMUNITY and item.entity_id is not None:
            known[source][item.listing.external_id] = item.entity_id
        wanted[source].update(normalize.references(item.valid))
    for source, external_ids in wanted.items():
        missing = sorted(external_ids - known[source].keys())
        if not missing:
            continue
        # Exactly (source, external id in ...): the shape the unique index answers.
        cursor = db[LISTINGS].find(
            {"source_id": source, "external_id": {"$in": missing}},
            {"external_id": 1, "entity_id": 1, "entity": 1, "state": 1},
        )
        async for doc in cursor:
            # Only communities that exist: a rejected listing has no entity yet, so
            # a reference to it waits like one to an unknown id.
            if doc["entity"] == "community" and doc["state"] == "applied":
                known[source][doc["external_id"]] = doc["entity_id"]
    return known


async def _previous_organizers(db: Database, items: list[_Item]) -> set[ObjectId]:
    ids = [i.entity_id for i in items if i.listing.entity is EntityType.EVENT and i.existing]
    if not ids:
        return set()
    found: set[ObjectId] = set()
    async for doc in db[EVENTS].find({"_id": {"$in": ids}}, {"organizers": 1}):
        found.update(doc.get("organizers", []))
    return found


def _literal(fields: dict[str, Any]) -> dict[str, Any]:
    # Values go through an update pipeline, where a string such as "$100" would be
    # read as a field path: wrap every value so it is stored exactly as given.
    return {name: {"$literal": value} for name, value in fields.items()}


def _with_provenance(listing: Listing) -> dict[str, Any]:
    entry = {
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
    items: list[_Item],
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
        fields = _FIELDS[entity](item.valid, source_refs, item.id, now)
        fields["filter_terms"] = filter_terms(fields) + matching.as_terms(item.match_keys)
        item.organizers = fields.get("organizers", [])
        update = {
            **_literal(fields),
            "updated_at": {"$literal": now},
            "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
            "slug": {"$ifNull": ["$slug", {"$literal": slugs[item.id]}]},
            "sources": _with_provenance(item.listing),
            # Hard keys other sources contributed stay findable after this write.
            "filter_terms": {
                "$setUnion": [
                    {"$literal": fields["filter_terms"]},
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
    await _bulk(db, COLLECTION[entity], operations)


async def _slugs(db: Database, entity: EntityType, items: list[_Item]) -> dict[ObjectId, str]:
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
    db: Database, items: list[_Item], now: datetime, seen_epoch: str | None
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
    await _bulk(db, LISTINGS, operations, retry_duplicates=True)


async def _resolve_waiting(db: Database, applied: list[_Item], now: datetime) -> None:
    """Re-apply listings that were waiting for communities which have now arrived."""
    arrived: dict[str, list[str]] = defaultdict(list)
    for item in applied:
        if item.listing.entity is EntityType.COMMUNITY:
            arrived[item.listing.source_id].append(item.listing.external_id)
    for source_id, external_ids in arrived.items():
        cursor = db[LISTINGS].find({"source_id": source_id, "waiting_for": {"$in": external_ids}})
        retry: list[_Item] = []
        async for doc in cursor:
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
                retry.append(_Item(0, listing, doc["hash"], data=data, existing=doc))
        retry.sort(key=lambda i: _ORDER[i.listing.entity])
        await _apply(db, retry, now)


async def _refresh_last_event(db: Database, items: list[_Item], previous: set[ObjectId]) -> None:
    """Keep each organizer's `last_event_at` (latest live event) for has-upcoming filters.

    One date per community turns "has upcoming events" and its negation into
    bounded ranges on an indexed field. New live events can only raise it; a
    community that had an event changed (moved, cancelled, reassigned) is
    recomputed from its events.
    """
    raised: dict[ObjectId, datetime] = {}
    for item in items:
        data = item.data
        if isinstance(data, EventData) and data.status.value in normalize.LIVE_EVENT_STATUSES:
            for organizer in item.organizers:
                raised[organizer] = max(raised.get(organizer, normalize.NO_EVENTS), data.starts_at)
    affected = previous | raised.keys()
    if not affected:
        return
    recomputed = await _latest_live_event(db, previous)
    # Writes rewrite every index entry of a community, so only changed values are written.
    current = {
        doc["_id"]: doc.get("last_event_at")
        async for doc in db[COMMUNITIES].find(
            {"_id": {"$in": list(affected)}}, {"last_event_at": 1}
        )
    }
    operations = []
    for community, now_at in current.items():
        if community in previous:
            wanted = recomputed.get(community, normalize.NO_EVENTS)
        else:
            wanted = max(now_at or normalize.NO_EVENTS, raised[community])
        if wanted != now_at:
            operations.append(UpdateOne({"_id": community}, {"$set": {"last_event_at": wanted}}))
    if operations:
        await _bulk(db, COMMUNITIES, operations)


async def _latest_live_event(db: Database, communities: set[ObjectId]) -> dict[ObjectId, datetime]:
    if not communities:
        return {}
    latest: dict[ObjectId, datetime] = {}
    cursor = db[EVENTS].find(
        {
            # The organizer terms find the candidates through the filter_terms index.
            "filter_terms": {"$in": [term("organizers", c) for c in communities]},
            "status": {"$in": list(normalize.LIVE_EVENT_STATUSES)},
        },
        {"organizers": 1, "starts_at": 1},
    )
    async for doc in cursor:
        for organizer in doc.get("organizers", []):
            if organizer in communities:
                latest[organizer] = max(
                    latest.get(organizer, normalize.NO_EVENTS), doc["starts_at"]
                )
    return latest


async def _bulk(
    db: Database, collection: str, operations: list[UpdateOne], *, retry_duplicates: bool = False
) -> None:
    try:
        await db[collection].bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        codes = {e.get("code") for e in error.details.get("writeErrors", [])}
        # Two writers upserting the same new key race on the unique index; the
        # loser's retry finds the winner's document and updates it instead.
        if retry_duplicates and codes == {_DUPLICATE_KEY}:
            await db[collection].bulk_write(operations, ordered=False)
            return
        raise
