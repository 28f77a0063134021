"""Keyset (cursor) pagination on indexed sort keys.

The embedded server reads every document a `skip` passes over, so pages are
found by position in the sort order instead: "after (v1, ..., id)" becomes a
range on the first sort key (served by the index) plus an exact tie-break.
Cursors carry typed values so dates and ids compare as dates and ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from schema.errors import UserInputError
from schema.relay import Doc, Page, PageRequest, encode_cursor

SortSpec = Sequence[tuple[str, int]]


@dataclass(frozen=True)
class Ordering:
    """Sort keys (dotted paths, 1 or -1); `_id` in the last key's direction breaks ties.

    `tag` names the list and order a cursor was made for, so a cursor from another
    list is refused instead of silently selecting the wrong page.
    """

    tag: str
    keys: tuple[tuple[str, int], ...]

    def full(self, backward: bool = False) -> list[tuple[str, int]]:
        keys = [*self.keys, ("_id", self.keys[-1][1] if self.keys else 1)]
        return [(name, -direction) for name, direction in keys] if backward else keys


def _get(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"t": stamp.isoformat()}
    if isinstance(value, ObjectId):
        return {"o": str(value)}
    return value


def _load(value: Any, argument: str) -> Any:
    try:
        if isinstance(value, dict) and "t" in value:
            return datetime.fromisoformat(value["t"])
        if isinstance(value, dict) and "o" in value:
            return ObjectId(value["o"])
    except (ValueError, TypeError, InvalidId):
        raise UserInputError(f"'{argument}' is not a valid cursor", argument=argument) from None
    if isinstance(value, dict | list):
        raise UserInputError(f"'{argument}' is not a valid cursor", argument=argument)
    return value


def cursor_of(doc: Doc, ordering: Ordering) -> str:
    return encode_cursor([ordering.tag, *(_dump(_get(doc, name)) for name, _ in ordering.full())])


def decode_position(page: PageRequest, ordering: Ordering) -> list[Any] | None:
    if page.cursor is None:
        return None
    argument = "before" if page.backward else "after"
    tag, *values = page.cursor
    if tag != ordering.tag or len(values) != len(ordering.keys) + 1:
        raise UserInputError(
            f"'{argument}' is a cursor from a different list or sort order", argument=argument
        )
    return [_load(v, argument) for v in values]


def after_condition(keys: Sequence[tuple[str, int]], values: Sequence[Any]) -> dict[str, Any]:
    """Documents strictly after `values` in the order `keys`.

    The first key gets a plain range (index-friendly); the lexicographic rest
    is an $or evaluated on the documents that range selects.
    """
    branches: list[dict[str, Any]] = []
    for i, (name, direction) in enumerate(keys):
        branch = {keys[j][0]: values[j] for j in range(i)}
        branch[name] = {"$gt" if direction > 0 else "$lt": values[i]}
        branches.append(branch)
    first_name, first_direction = keys[0]
    bound = {"$gte" if first_direction > 0 else "$lte": values[0]}
    return {"$and": [{first_name: bound}, {"$or": branches}]}


def assemble(
    docs: list[Doc], page: PageRequest, ordering: Ordering, total: int | None = None
) -> Page:
    """Cut the look-ahead document and orient the page forwards."""
    has_more = len(docs) > page.size
    docs = docs[: page.size]
    if page.backward:
        docs.reverse()
    return Page(
        docs=docs,
        cursors=[cursor_of(doc, ordering) for doc in docs],
        has_next=(page.cursor is not None) if page.backward else has_more,
        has_previous=has_more if page.backward else page.cursor is not None,
        total=total,
    )
