"""People decide what the machine could not: the review queue and its decisions.

`review_page` pages through the decisions waiting for a person (or any status), each
with both entities as stored and the evidence. `resolve` settles one: SAME merges
the record's entity into the one it was compared with (whose id survives), and
DIFFERENT keeps them apart for good (service.ingest.entity_resolution never merges
a pair a person called different). `merge` and `split_entity` act on entities
directly and are remembered the same way: the listings' documents name their
entity, and ingestion keeps a listing where it is.

Callers go through `AdminService` (role check, audit, read-your-writes). The
functions named like the admin port's methods take ids as the client sent them
(global ids of entities and listings) and return its result types; the others
take them decoded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from schema.admin.problems import AdminInputProblem, InvalidAdminInput, MatchNotFound
from schema.admin.reports import EntitiesMerged, EntitySplit
from schema.admin.reviews import (
    MatchDecision,
    MatchDecisionDoc,
    MatchReviewFilter,
    MatchReviewView,
    decode_entity_id,
    decode_listing_id,
    entity_global_id,
)
from schema.errors import UserInputError
from schema.relay import Page, PageRequest
from schema.taxonomy import EntityType
from service.ingest import regroup, split
from service.ingest.items import COLLECTION
from service.matching import redirects
from service.matching.decisions import DIFFERENT, SAME, decision_id
from service.matching.policy import Outcome
from service.storage.collections import MATCH_DECISIONS, Database
from service.storage.keyset import Ordering, SortKey
from service.storage.stored import Stored

# Newest first; the index on (status, entity, created_at) serves the usual filter.
REVIEWS = Ordering("reviews", (SortKey("created_at", -1, datetime), SortKey("_id", -1, ObjectId)))
match_decision: Stored[MatchDecisionDoc] = Stored()
match_review: Stored[MatchReviewView] = Stored()


class NotFound(Exception):
    """No decision, or no entity, with that id."""


def object_id(value: str, argument: str = "id") -> ObjectId:
    """A raw id the client sent; a malformed one is the client's mistake."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise UserInputError(f"'{argument}' is not a valid id", argument=argument) from None


def _selection(selection: MatchReviewFilter) -> dict[str, Any]:
    # Every value comes from the typed filter: enums and a plain string.
    where: dict[str, Any] = {"status": selection.status.value}
    if selection.entity_type is not None:
        where["entity"] = selection.entity_type.value
    if selection.source_id is not None:
        where["source_id"] = selection.source_id
    return where


async def review_page(
    db: Database, selection: MatchReviewFilter, page: PageRequest, with_total: bool
) -> Page[MatchReviewView]:
    """Decisions matching `selection`, newest first, with both entities."""
    query = _selection(selection)
    position = REVIEWS.position(page)
    if position is not None:
        query.update(REVIEWS.after(position, page.backward))
    decisions = match_decision.all(
        await db[MATCH_DECISIONS]
        .find(query)
        .sort(REVIEWS.fields(page.backward))
        .limit(page.size + 1)
        .to_list()
    )
    total = await db[MATCH_DECISIONS].count_documents(_selection(selection)) if with_total else None
    return REVIEWS.page(await with_entities(db, decisions), page, total)


async def review(db: Database, decision: ObjectId) -> MatchReviewView | None:
    doc = match_decision.one(await db[MATCH_DECISIONS].find_one({"_id": decision}))
    if doc is None:
        return None
    [shown] = await with_entities(db, [doc])
    return shown


async def with_entities(db: Database, decisions: list[MatchDecisionDoc]) -> list[MatchReviewView]:
    """Each decision with both of its entities as stored now (one query per type)."""
    found: dict[ObjectId, dict[str, Any]] = {}
    by_type: dict[str, set[ObjectId]] = {}
    for d in decisions:
        by_type.setdefault(d["entity"], set()).update({d["entity_id"], d["candidate_id"]})
    for entity, ids in by_type.items():
        cursor = db[COLLECTION[EntityType(entity)]].find(
            {"_id": {"$in": sorted(ids)}}, {"match_keys": 0}
        )
        found.update({doc["_id"]: doc async for doc in cursor})
    return [
        match_review(
            {**d, "record": found.get(d["entity_id"]), "candidate": found.get(d["candidate_id"])}
        )
        for d in decisions
    ]


async def resolve(db: Database, decision: ObjectId, same: bool, now: datetime) -> MatchReviewView:
    """Settle a decision; the decision as it now stands."""
    doc = match_decision.one(await db[MATCH_DECISIONS].find_one({"_id": decision}))
    if doc is None:
        raise NotFound(str(decision))
    if same:
        entity = EntityType(doc["entity"])
        await regroup.merge_into(db, entity, doc["candidate_id"], [doc["entity_id"]], now)
    status = SAME if same else DIFFERENT
    await db[MATCH_DECISIONS].update_one(
        {"_id": doc["_id"]}, {"$set": {"status": status, "decided_at": now}}
    )
    shown = await review(db, doc["_id"])
    if shown is None:
        raise NotFound(str(decision))
    return shown


async def current_ids(db: Database, ids: Iterable[ObjectId]) -> list[ObjectId]:
    """The ids, each merged-away one replaced by its survivor, without repeats."""
    wanted = list(ids)
    moved = await redirects.resolve(db, wanted)
    return list(dict.fromkeys(moved.get(i, i) for i in wanted))


async def merge(
    db: Database, entity: EntityType, ids: Sequence[ObjectId], now: datetime
) -> tuple[ObjectId, list[ObjectId]]:
    """Merge entities into the first of them (its id survives); remembered as SAME.
    The survivor and the ids merged away; raises NotFound when nothing was merged."""
    survivor, *others = await current_ids(db, ids)
    gone = await regroup.merge_into(db, entity, survivor, others, now)
    if not gone:
        raise NotFound(str(survivor))
    await _remember(db, entity, itertools.product([survivor], gone), SAME, now)
    return survivor, gone


async def entity_exists(db: Database, entity: EntityType, entity_id: ObjectId) -> bool:
    return await db[COLLECTION[entity]].count_documents({"_id": entity_id}, limit=1) > 0


async def entity_doc(
    db: Database, entity: EntityType, entity_id: ObjectId
) -> dict[str, Any] | None:
    """An entity as stored, without its match keys (a view of no declared type)."""
    return await db[COLLECTION[entity]].find_one({"_id": entity_id}, {"match_keys": 0})


async def split_entity(
    db: Database,
    entity: EntityType,
    entity_id: ObjectId,
    listings: Sequence[tuple[str, str]],
    now: datetime,
) -> ObjectId | None:
    """Move these listings of an entity to a new one; remembered as DIFFERENT. The new
    entity's id; None when none of them feeds the entity, or all of them do."""
    new_id = await split.split_off(db, entity, entity_id, listings, now)
    if new_id is None:
        return None
    await _remember(db, entity, [(entity_id, new_id)], DIFFERENT, now)
    return new_id


# As the admin port takes them.


async def matched_entity(db: Database, entity_id: str) -> tuple[EntityType, dict[str, Any] | None]:
    entity, raw = decode_entity_id(entity_id, "id")
    return entity, await entity_doc(db, entity, object_id(raw))


async def resolve_match(
    db: Database, decision_id: str, decision: MatchDecision, now: datetime
) -> MatchReviewView | MatchNotFound:
    key = object_id(decision_id)
    try:
        return await resolve(db, key, decision is MatchDecision.SAME, now)
    except NotFound:
        return _not_found("match decision", decision_id)


async def merge_entities(
    db: Database, entity_ids: Sequence[str], now: datetime
) -> EntitiesMerged | MatchNotFound | InvalidAdminInput:
    decoded = [decode_entity_id(i, "ids") for i in entity_ids]
    kinds = {entity for entity, _ in decoded}
    raw = list(dict.fromkeys(object_id(r, "ids") for _, r in decoded))
    if len(kinds) > 1:
        return _invalid("ids", "name entities of one type")
    if len(raw) < 2:
        return _invalid("ids", "name two entities at least")
    [entity] = kinds
    try:
        survivor, gone = await merge(db, entity, raw, now)
    except NotFound:
        return _not_found("entity", ", ".join(entity_ids))
    return EntitiesMerged(
        survivor_id=entity_global_id(entity, survivor),
        merged_ids=[entity_global_id(entity, g) for g in gone],
    )


async def split_listings(
    db: Database, entity_id: str, listing_ids: Sequence[str], now: datetime
) -> EntitySplit | MatchNotFound | InvalidAdminInput:
    entity, raw = decode_entity_id(entity_id, "id")
    key = object_id(raw)
    listings = [decode_listing_id(i, "listingIds") for i in listing_ids]
    if not await entity_exists(db, entity, key):
        return _not_found("entity", entity_id)
    new_id = await split_entity(db, entity, key, listings, now)
    if new_id is None:
        return _invalid("listingIds", "name some, not all, of the entity's listings")
    return EntitySplit(
        entity_id=entity_global_id(entity, key), new_entity_id=entity_global_id(entity, new_id)
    )


def _not_found(what: str, given: str) -> MatchNotFound:
    return MatchNotFound(message=f"no {what} {given!r}", missing_id=given)


def _invalid(field: str, message: str) -> InvalidAdminInput:
    return InvalidAdminInput.of([AdminInputProblem(field=field, message=message)])


async def _remember(
    db: Database,
    entity: EntityType,
    pairs: Iterable[tuple[ObjectId, ObjectId]],
    status: str,
    now: datetime,
) -> None:
    """A person's decision about entities, kept like the machine's (by a person)."""
    for left, right in pairs:
        doc = {
            "entity": entity.value,
            "source_id": "admin",
            "external_id": str(right),
            "entity_id": right,
            "candidate_id": left,
            "outcome": Outcome.MERGE.value if status == SAME else Outcome.APART.value,
            "score": 0.0,
            "evidence": [{"feature": "person", "weight": 0.0, "detail": f"decided {status}"}],
            "status": status,
            "created_at": now,
            "decided_at": now,
        }
        key = decision_id(entity.value, "admin", str(right), left)
        await db[MATCH_DECISIONS].replace_one({"_id": key}, {"_id": key, **doc}, upsert=True)
