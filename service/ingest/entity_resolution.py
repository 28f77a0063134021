"""Scored matching of new community and event records to the entities other sources feed.

For one entity type in one batch: every record gets its profile and blocking keys
(stored on its entity with the hard keys); each new record's candidates are the
stored entities sharing a key with it (service.matching.candidates) and the
entities earlier records of the batch made or joined; each candidate another source
feeds is scored, and the best one above the merge threshold is the record's
entity. Below it, a pair above the review threshold waits for a person, and the
record gets an entity of its own; every scored pair worth showing is recorded
with its evidence (service.matching.decisions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from schema.models import CommunityData, EventData
from schema.taxonomy import EntityType
from service.ingest.items import COLLECTION, BatchItem
from service.matching import blocking, candidates, communities, events, profiles
from service.matching.decisions import Decision, record, said_different, worth_keeping
from service.matching.evidence import Score
from service.matching.policy import MatchPolicy, Outcome
from service.storage.collections import Database
from service.storage.lookups import source_listings

Profile = profiles.CommunityProfile | profiles.EventProfile


@dataclass
class _Pool:
    """Candidates by blocking key: stored entities and the batch's own."""

    by_key: dict[str, list[Profile]] = field(default_factory=lambda: defaultdict(list))
    # Ids of the stored entities among them (the others are this batch's, not written yet).
    stored: set[ObjectId] = field(default_factory=set)
    # Pairs of them a person said are different entities.
    different: set[frozenset[ObjectId]] = field(default_factory=set)

    def add(self, profile: Profile, keys: list[str]) -> None:
        for key in keys:
            bucket = self.by_key[key]
            if not any(p is profile for p in bucket):
                bucket.append(profile)

    def around(self, keys: list[str]) -> list[Profile]:
        found: dict[int, Profile] = {}
        for key in keys:
            for profile in self.by_key.get(key, []):
                found.setdefault(id(profile), profile)
        return list(found.values())


@dataclass(frozen=True)
class Merge:
    """Two stored entities one new record showed to be one (it matched both)."""

    entity: EntityType
    survivor: ObjectId
    absorbed: ObjectId


@dataclass
class _Record:
    item: BatchItem
    profile: Profile
    stored: list[str]
    wanted: list[str]


async def resolve(
    db: Database,
    entity: EntityType,
    group: list[BatchItem],
    policy: MatchPolicy,
    now: datetime,
    new_id: Callable[[BatchItem], ObjectId],
) -> list[Merge]:
    """Set `entity_id` and `match_keys` (hard + blocking) of every item of `group`; the
    stored entities to merge once the batch is written (see `_decide`)."""
    records = [_record(entity, item, policy) for item in group]
    for r in records:
        r.item.match_keys = list(dict.fromkeys([*r.item.match_keys, *r.stored]))
    new = [r for r in records if not _known(r.item)]
    pool = _Pool()
    if new:
        await _stored_candidates(db, entity, new, pool)
        await _parents(db, new)
    decisions: list[Decision] = []
    merges: list[Merge] = []
    for r in records:
        known = _known(r.item)
        if known is not None:
            r.item.entity_id = known
            continue
        r.item.entity_id, made, bridged = _decide(entity, r, pool, policy, new_id)
        decisions += made
        merges += bridged
    await record(db, decisions, now)
    return merges


def _known(item: BatchItem) -> ObjectId | None:
    known = item.existing.get("entity_id") if item.existing else None
    return known if isinstance(known, ObjectId) else None


def _record(entity: EntityType, item: BatchItem, policy: MatchPolicy) -> _Record:
    data, source = item.valid, item.listing.source_id
    if entity is EntityType.COMMUNITY and isinstance(data, CommunityData):
        community = profiles.community_of_listing(data, item.match_keys, source)
        return _Record(
            item,
            community,
            blocking.community_stored(community),
            [*item.match_keys, *blocking.community_wanted(community)],
        )
    if entity is EntityType.EVENT and isinstance(data, EventData):
        event = profiles.event_of_listing(data, item.match_keys, source)
        return _Record(
            item,
            event,
            blocking.event_stored(event),
            [*item.match_keys, *blocking.event_wanted(event, policy.event_start_tolerance)],
        )
    raise TypeError(f"no scored matching for {entity.value} records")


async def _stored_candidates(
    db: Database, entity: EntityType, new: list[_Record], pool: _Pool
) -> None:
    sources = {r.item.listing.source_id for r in new}
    if not await candidates.others_feed(db, entity.value, COLLECTION[entity], sources):
        return
    wanted = {k for r in new for k in r.wanted}
    projection: dict[str, Any] = (
        profiles.COMMUNITY_PROJECTION
        if entity is EntityType.COMMUNITY
        else profiles.EVENT_PROJECTION
    )
    skip = next(iter(sources)) if len(sources) == 1 else None
    to_profile = (
        profiles.community_of_doc if entity is EntityType.COMMUNITY else profiles.event_of_doc
    )
    for doc in await candidates.find(db, COLLECTION[entity], wanted, projection, skip):
        profile = to_profile(doc)
        pool.stored.add(doc["_id"])
        pool.add(profile, [k for k in doc.get("match_keys", []) if k in wanted])
    pool.different = await said_different(db, pool.stored)


async def _parents(db: Database, new: list[_Record]) -> None:
    """The entities new communities name as what they are members of (hard negatives)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for r in new:
        data = r.item.valid
        if isinstance(data, CommunityData) and data.member_of:
            wanted[r.item.listing.source_id].update(data.member_of)
    for source, external_ids in wanted.items():
        found = await source_listings(db, source, external_ids, {"external_id": 1, "entity_id": 1})
        ids = {doc["external_id"]: doc["entity_id"] for doc in found}
        for r in new:
            data = r.item.valid
            if (
                r.item.listing.source_id == source
                and isinstance(data, CommunityData)
                and isinstance(r.profile, profiles.CommunityProfile)
            ):
                r.profile.member_of = {ids[e] for e in data.member_of if e in ids}


def _score(profile: Profile, other: Profile, policy: MatchPolicy) -> Score:
    if isinstance(profile, profiles.CommunityProfile) and isinstance(
        other, profiles.CommunityProfile
    ):
        return communities.score(profile, other)
    if isinstance(profile, profiles.EventProfile) and isinstance(other, profiles.EventProfile):
        return events.score(profile, other, policy.event_start_tolerance)
    raise TypeError("profiles of two entity types")


def _decide(
    entity: EntityType,
    r: _Record,
    pool: _Pool,
    policy: MatchPolicy,
    new_id: Callable[[BatchItem], ObjectId],
) -> tuple[ObjectId, list[Decision], list[Merge]]:
    """The record's entity, the decisions to keep, and the stored entities it bridges.

    A record that matches two stored entities no source feeds both of (a Russian
    registry's and an English partner's record of one association, met by a member
    list naming it by both site and number) shows they are one: the weaker one is
    merged into the stronger, unless a person said they differ.
    """
    source = r.item.listing.source_id
    scored: list[tuple[Score, Profile, Outcome]] = []
    for other in pool.around(r.wanted):
        if source in other.sources or other.entity_id is None:
            continue  # one source's two records are two entities
        result = _score(r.profile, other, policy)
        outcome = policy.outcome(result.total, event=entity is EntityType.EVENT)
        scored.append((result, other, outcome))
    scored.sort(key=lambda s: -s[0].total)
    winner = next((other for _, other, outcome in scored if outcome is Outcome.MERGE), None)
    bridged: list[Merge] = []
    if winner is not None and winner.entity_id is not None:
        entity_id = winner.entity_id
        winner.sources.add(source)
        _absorb(winner, r.profile)
        pool.add(winner, r.stored)
    else:
        entity_id = new_id(r.item)
        r.profile.entity_id = entity_id
        pool.add(r.profile, r.stored)
    made = []
    for result, other, outcome in scored:
        other_id = other.entity_id
        if other_id is None or (other_id == entity_id and other is not winner):
            continue
        if other is not winner and outcome is Outcome.MERGE:
            if _can_bridge(winner, other, pool):
                bridged.append(Merge(entity, entity_id, other_id))
                _join(winner, other)
            else:
                outcome = Outcome.REVIEW  # as good as the entity it joined: a person decides
        if not worth_keeping(outcome, result):
            continue
        external_id = r.item.listing.external_id
        made.append(
            Decision(entity.value, source, external_id, entity_id, other_id, outcome, result)
        )
    return entity_id, made, bridged


def _can_bridge(winner: Profile | None, other: Profile, pool: _Pool) -> bool:
    return (
        winner is not None
        and winner.entity_id in pool.stored
        and other.entity_id in pool.stored
        and not winner.sources & other.sources
        and frozenset({winner.entity_id, other.entity_id}) not in pool.different
    )


def _join(winner: Profile | None, other: Profile) -> None:
    """`other` is merged into `winner`: later records of the batch see one entity."""
    if winner is None:
        return
    winner.sources |= other.sources
    other.sources = winner.sources
    other.entity_id = winner.entity_id
    _absorb(winner, other)


def _absorb(winner: Profile, joined: Profile) -> None:
    """What a record adds to the entity it joined, for the batch's later records."""
    if isinstance(winner, profiles.CommunityProfile) and isinstance(
        joined, profiles.CommunityProfile
    ):
        winner.signatures |= joined.signatures
        winner.acronyms |= joined.acronyms
        winner.abbreviations |= joined.abbreviations
        winner.domains |= joined.domains
        for scheme, values in joined.identifiers.items():
            winner.identifiers.setdefault(scheme, set()).update(values)
