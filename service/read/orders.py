"""The list orders of each entity type, and the keys that back them."""

from __future__ import annotations

from schema.enums import CommunitySort, EventSort, StandardSort
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS
from service.storage.keyset import Ordering

COMMUNITY_ORDER = {
    CommunitySort.NAME: Ordering.by("community.name", "keys.name"),
    CommunitySort.MEMBER_COUNT_DESC: Ordering.by("community.members", "keys.members", -1),
    CommunitySort.FOUNDED_YEAR: Ordering.by("community.founded", "keys.founded"),
    CommunitySort.UPDATED_DESC: Ordering.by("community.updated", "keys.updated", -1),
}

EVENT_ORDER = {
    EventSort.STARTS_AT: Ordering.by("event.start", "keys.start"),
    EventSort.STARTS_AT_DESC: Ordering.by("event.start_desc", "keys.start", -1),
}

STANDARD_ORDER = {StandardSort.CODE: Ordering.by("standard.code", "keys.code")}

# Search results are ranked, then ordered as the collection's default order.
RELEVANCE = {
    COMMUNITIES: Ordering.ranked("community.relevance", "keys.name"),
    EVENTS: Ordering.ranked("event.relevance", "keys.start"),
    STANDARDS: Ordering.ranked("standard.relevance", "keys.code"),
}


def default_order(collection: str) -> Ordering:
    return {
        COMMUNITIES: COMMUNITY_ORDER[CommunitySort.NAME],
        EVENTS: EVENT_ORDER[EventSort.STARTS_AT],
        STANDARDS: STANDARD_ORDER[StandardSort.CODE],
    }[collection]
