"""Which value of each field an entity shows when several listings feed it.

Each listing feeding an entity together with others keeps its normalized fields on
the entity (`contributions`). Each field shows the value of the contribution ranked
first for it: by its source's priority (higher first), then by freshness (`fetched_at`,
later first). A contribution that leaves a field empty (null, no items) never wins
it over one that fills it. What the others give is kept (`alternatives`), and
`provenance` says which listing supplied each field shown.

An entity one listing feeds stores none of this: its fields are that listing's and
its one `sources` entry supplied them all, so the common case costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from schema.documents import (
    CommunityFields,
    ContributionDoc,
    EventFields,
    FieldAlternativeDoc,
    FieldProvenanceDoc,
    ProvenanceEntry,
    StandardFields,
)
from schema.taxonomy import EntityType
from service.storage.collections import SOURCES, Database
from service.storage.lookups import find_in

# A source registered without one, and the built-in demo source.
DEFAULT_PRIORITY = 100

FIELDS: dict[EntityType, tuple[str, ...]] = {
    EntityType.COMMUNITY: tuple(CommunityFields.__annotations__),
    EntityType.EVENT: tuple(EventFields.__annotations__),
    EntityType.STANDARD: tuple(StandardFields.__annotations__),
}
# Fields that only make sense together take the winner of the first: a formality
# belongs to its form, an end and a time zone to their start.
FOLLOWS = {
    "formality": "form",
    "ends_at": "starts_at",
    "timezone": "starts_at",
    "all_day": "starts_at",
    "is_free": "price",
}
# Every field a source may rank itself on (`field_priorities`), by stored name.
RANKED_FIELDS = frozenset(name for names in FIELDS.values() for name in names)
# What the survivorship writes; an entity one listing feeds has none of it.
STORED = ("contributions", "provenance", "alternatives")


@dataclass(frozen=True)
class Priority:
    """A source's rank: its `priority`, and per field where one is given."""

    default: int = DEFAULT_PRIORITY
    fields: Mapping[str, int] = field(default_factory=dict)

    def of(self, name: str) -> int:
        return self.fields.get(name, self.default)


Priorities = Mapping[str, Priority]


@dataclass(frozen=True)
class Resolved:
    fields: dict[str, Any]
    provenance: list[FieldProvenanceDoc]
    alternatives: list[FieldAlternativeDoc]


async def load_priorities(db: Database, source_ids: Iterable[str]) -> dict[str, Priority]:
    """The current priority of these sources (read when winners are chosen, so a
    changed priority counts from the next write of each entity)."""
    ids = sorted(set(source_ids))
    docs = await find_in(db, SOURCES, "_id", ids, {"priority": 1, "field_priorities": 1})
    found = {
        d["_id"]: Priority(
            int(d.get("priority", DEFAULT_PRIORITY)), dict(d.get("field_priorities") or {})
        )
        for d in docs
    }
    return {i: found.get(i, Priority()) for i in ids}


def key(entry: ContributionDoc | ProvenanceEntry) -> tuple[str, str]:
    return (entry["source_id"], entry["external_id"])


def contribution(
    source_id: str, external_id: str, fetched_at: datetime, fields: Mapping[str, Any]
) -> ContributionDoc:
    return {
        "source_id": source_id,
        "external_id": external_id,
        "fetched_at": fetched_at,
        "fields": dict(fields),
    }


def current(entity: EntityType, doc: Mapping[str, Any]) -> list[ContributionDoc]:
    """The contributions of a stored entity, of the listings that still feed it.

    An entity without them (one listing fed it, or it was written before they were
    kept) contributes its shown fields as its freshest listing's."""
    feeding = {key(s) for s in doc.get("sources", [])}
    kept: list[ContributionDoc] = doc.get("contributions") or []
    if kept:
        return [c for c in kept if key(c) in feeding]
    if not doc.get("sources"):
        return []
    latest: ProvenanceEntry = max(doc["sources"], key=lambda s: s["fetched_at"])
    fields = {name: doc.get(name) for name in FIELDS[entity]}
    if entity is EntityType.COMMUNITY:
        # The listing's own memberships: cluster memberships are added on top.
        fields["member_of"] = doc.get("own_member_of", doc.get("member_of", []))
    return [contribution(latest["source_id"], latest["external_id"], latest["fetched_at"], fields)]


def replace(
    contributions: Sequence[ContributionDoc], new: ContributionDoc
) -> list[ContributionDoc]:
    return [*(c for c in contributions if key(c) != key(new)), new]


def _given(value: Any) -> bool:
    return value is not None and value != [] and value != {} and value != ""


Rank = tuple[bool, int, datetime, str, str]


def _rank(name: str, priorities: Priorities) -> Callable[[ContributionDoc], Rank]:
    def rank(c: ContributionDoc) -> Rank:
        priority = priorities.get(c["source_id"], Priority()).of(name)
        # Ties of priority and time go to the same listing whatever the order of writes.
        return (_given(c["fields"].get(name)), priority, c["fetched_at"], *key(c))

    return rank


def resolve(
    entity: EntityType, contributions: Sequence[ContributionDoc], priorities: Priorities
) -> Resolved:
    """Each field's winner among these contributions (at least one), with the
    provenance of the fields shown and the values the others give."""
    winners: dict[str, ContributionDoc] = {}
    for name in FIELDS[entity]:
        leader = FOLLOWS.get(name)
        if leader in winners:
            winners[name] = winners[leader]
        else:
            winners[name] = max(contributions, key=_rank(name, priorities))
    fields: dict[str, Any] = {}
    provenance: list[FieldProvenanceDoc] = []
    alternatives: list[FieldAlternativeDoc] = []
    for name, winner in winners.items():
        value = winner["fields"].get(name)
        fields[name] = value
        if _given(value):
            provenance.append(_origin(name, winner))
        for other in contributions:
            given = other["fields"].get(name)
            if other is not winner and _given(given) and given != value:
                alternatives.append({**_origin(name, other), "value": given})
    return Resolved(fields, provenance, alternatives)


def _origin(name: str, c: ContributionDoc) -> FieldProvenanceDoc:
    return {
        "field": name,
        "source_id": c["source_id"],
        "external_id": c["external_id"],
        "fetched_at": c["fetched_at"],
    }


def entity_set(
    entity: EntityType,
    contributions: Sequence[ContributionDoc],
    priorities: Priorities,
    clusters: Collection[ObjectId],
) -> tuple[dict[str, Any], list[str]]:
    """What an entity's document is set to, and the keys it loses, for the listings
    that feed it (at least one contribution)."""
    if len(contributions) == 1:
        # Back to one listing: its fields, and nothing to choose between.
        values = dict(contributions[0]["fields"])
        stored: dict[str, Any] = {}
        unset = list(STORED)
    else:
        resolved = resolve(entity, contributions, priorities)
        values = resolved.fields
        stored = {
            "contributions": list(contributions),
            "provenance": resolved.provenance,
            "alternatives": resolved.alternatives,
        }
        unset = []
    if entity is EntityType.COMMUNITY:
        own: list[ObjectId] = values.get("member_of") or []
        values["own_member_of"] = own
        values["member_of"] = [*own, *(c for c in clusters if c not in own)]
    return {**values, **stored}, unset
