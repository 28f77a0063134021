"""The list orders of each entity type over the read model, and their keyset bounds.

Every order ends with a unique precomputed key column (its value ends with the
entity id, see service.read_model.rows), so "after a cursor" is one range on an
indexed column; ranked search orders first by the computed `_matched`/`_score`.
Cursors are made and read by service.storage.keyset, the same as every list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schema.enums import CommunitySort, EventSort, StandardSort
from service.read.filters import Condition
from service.read_model.rows import COMMUNITIES, EVENTS, STANDARDS
from service.storage.keyset import Ordering

COMMUNITY_ORDER = {
    CommunitySort.NAME: Ordering.by("community.name", "name_key"),
    CommunitySort.MEMBER_COUNT_DESC: Ordering.by("community.members", "members_key", -1),
    CommunitySort.FOUNDED_YEAR: Ordering.by("community.founded", "founded_key"),
    CommunitySort.UPDATED_DESC: Ordering.by("community.updated", "updated_key", -1),
}
EVENT_ORDER = {
    EventSort.STARTS_AT: Ordering.by("event.start", "start_key"),
    EventSort.STARTS_AT_DESC: Ordering.by("event.start_desc", "start_key", -1),
}
STANDARD_ORDER = {StandardSort.CODE: Ordering.by("standard.code", "code_order")}
# Search results are ranked, then ordered as the collection's default order.
RELEVANCE = {
    COMMUNITIES: Ordering.ranked("community.relevance", "name_key"),
    EVENTS: Ordering.ranked("event.relevance", "start_key"),
    STANDARDS: Ordering.ranked("standard.relevance", "code_order"),
}
DEFAULT = {
    COMMUNITIES: COMMUNITY_ORDER[CommunitySort.NAME],
    EVENTS: EVENT_ORDER[EventSort.STARTS_AT],
    STANDARDS: STANDARD_ORDER[StandardSort.CODE],
}


def order_by(ordering: Ordering, backward: bool, alias: str) -> str:
    return ", ".join(
        f"{_column(name, alias)} {'ASC' if direction > 0 else 'DESC'}"
        for name, direction in ordering.fields(backward)
    )


def sql_after(ordering: Ordering, position: Sequence[Any], backward: bool, alias: str) -> Condition:
    """Rows after `position` in this order (before it, reading `backward`): a range on the
    first key, with the lexicographic tie-break on the others when there are several."""
    fields = ordering.fields(backward)
    branches: list[str] = []
    params: list[Any] = []
    for i, (name, direction) in enumerate(fields):
        equal = [f"{_column(fields[j][0], alias)} = ?" for j in range(i)]
        branches.append(
            " AND ".join([*equal, f"{_column(name, alias)} {'>' if direction > 0 else '<'} ?"])
        )
        params += [*position[:i], position[i]]
    if len(branches) == 1:
        return Condition(branches[0], tuple(params))
    return Condition(" OR ".join(f"({b})" for b in branches), tuple(params))


def _column(name: str, alias: str) -> str:
    # The computed ranking columns belong to the `ranked` table, not the entity's.
    return f"r.{name[1:]}" if name in ("_matched", "_score") else f"{alias}.{name}"
