"""A change-stream event on communities or events, read as a listing change and filtered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from schema.documents import ProvenanceEntry
from schema.enums import ListingChangeKind, ListingEntityType
from schema.inputs import ListingChangeFilter
from schema.ports.live import LiveChange
from service.live.changes import INSERT, Change
from service.read import filters
from service.storage import stored
from service.storage.collections import (
    COMMUNITIES,
    TOMBSTONES,
)


@dataclass(frozen=True)
class ListedChange:
    """What a listing subscriber filters on, read once per change."""

    item: LiveChange
    sources: frozenset[str]
    countries: frozenset[str]
    # None for an event: its organizers' industries are read when a filter asks.
    industries: frozenset[str] | None
    organizers: tuple[ObjectId, ...] = ()


def _read_listed(change: Change) -> ListedChange | None:
    doc = change.doc
    if doc is None:  # deleted before the change was read: its tombstone follows
        return None
    if change.collection == TOMBSTONES:
        tombstone = stored.tombstone(doc)
        item = LiveChange(
            change=ListingChangeKind.WITHDRAWN,
            entity=ListingEntityType(tombstone["entity"]),
            entity_id=str(tombstone["entity_id"]),
            at=tombstone["withdrawn_at"],
        )
        return ListedChange(
            item,
            frozenset(tombstone.get("source_ids") or ()),
            frozenset(tombstone.get("countries") or ()),
            frozenset(tombstone.get("industries") or ()),
        )
    kind = ListingChangeKind.CREATED if change.operation == INSERT else ListingChangeKind.UPDATED
    # The hub's projection leaves out `match_keys` (service.live.changes): a view.
    if change.collection == COMMUNITIES:
        community = stored.community_view(doc)
        item = LiveChange(
            kind, ListingEntityType.COMMUNITY, str(community["_id"]), change.at, community=community
        )
        return ListedChange(
            item,
            _sources(community.get("sources")),
            frozenset(community.get("countries") or ()),
            frozenset(community.get("industries") or ()),
        )
    event = stored.event_view(doc)
    item = LiveChange(kind, ListingEntityType.EVENT, str(event["_id"]), change.at, event=event)
    country = (event.get("venue") or {}).get("country")
    return ListedChange(
        item,
        _sources(event.get("sources")),
        frozenset([country] if country else ()),
        None,
        tuple(event.get("organizers") or ()),
    )


def _sources(entries: list[ProvenanceEntry] | None) -> frozenset[str]:
    return frozenset(s["source_id"] for s in entries or ())


def listed(change: Change) -> ListedChange | None:
    """The listing change in a change event (None when there is none to report)."""
    if "listed" not in change.memo:
        change.memo["listed"] = _read_listed(change)
    found: ListedChange | None = change.memo["listed"]
    return found


def _set(values: list[Any] | None) -> frozenset[Any] | None:
    return frozenset(values) if values else None


@dataclass(frozen=True)
class ListingSelection:
    """A validated `ListingChangeFilter`; an absent or empty list matches everything."""

    entities: frozenset[ListingEntityType] | None = None
    changes: frozenset[ListingChangeKind] | None = None
    industries: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    sources: frozenset[str] | None = None

    @classmethod
    def of(cls, given: ListingChangeFilter | None) -> ListingSelection:
        if given is None:
            return cls()
        industries = filters.industries(given.industries or [], "filter.industries")
        countries = filters.countries(given.countries or [], "filter.countries")
        return cls(
            entities=_set(given.entity_types),
            changes=_set(given.changes),
            industries=_set(industries),
            countries=_set(countries),
            sources=_set(given.source_ids),
        )

    def admits(self, change: Change) -> bool:
        """Everything that can be decided from the change itself (run by the hub)."""
        found = listed(change)
        if found is None:
            return False
        item = found.item
        return (
            (self.entities is None or item.entity in self.entities)
            and (self.changes is None or item.change in self.changes)
            and (self.sources is None or not self.sources.isdisjoint(found.sources))
            and (self.countries is None or not self.countries.isdisjoint(found.countries))
            and (
                self.industries is None
                or found.industries is None
                or not self.industries.isdisjoint(found.industries)
            )
        )
