"""Keyset (cursor) pagination on one precomputed, indexed key per sort order.

Each entity stores `keys.<order>`: a string that sorts like the order it names
and ends with the entity id (see service.documents.normalize.sort_keys), so it is unique.
"After cursor c" is then a single range `{keys.<order>: {$gt: c}}` on an indexed
field: no `$or` tie-break clause (which the embedded server cannot answer from an
index) and no `skip` (which reads every document it passes over).

Ranked search is the exception: its order is computed per query, so its cursor
compares the computed score fields in a later pipeline stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schema.errors import UserInputError
from schema.relay import Doc, Page, PageRequest, encode_cursor


@dataclass(frozen=True)
class Ordering:
    """A list order: `key` (a `keys.*` path) ascending or descending.

    `tag` names the list and order a cursor was made for, so a cursor from another
    list is refused instead of silently selecting the wrong page. `ranked` orders
    first by the search score fields, then by `key`.
    """

    tag: str
    key: str
    direction: int = 1
    ranked: bool = False

    def fields(self, backward: bool = False) -> list[tuple[str, int]]:
        flip = -1 if backward else 1
        score = [("_matched", -flip), ("_score", -flip)] if self.ranked else []
        return [*score, (self.key, self.direction * flip)]


def _get(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def cursor_of(doc: Doc, ordering: Ordering) -> str:
    return encode_cursor([ordering.tag, *(_get(doc, name) for name, _ in ordering.fields())])


def decode_position(page: PageRequest, ordering: Ordering) -> list[Any] | None:
    if page.cursor is None:
        return None
    argument = "before" if page.backward else "after"
    tag, *values = page.cursor
    expected = [int | float] * 2 * ordering.ranked + [str]
    if (
        tag != ordering.tag
        or len(values) != len(expected)
        or not all(isinstance(v, t) for v, t in zip(values, expected, strict=True))
    ):
        raise UserInputError(
            f"'{argument}' is a cursor from a different list or sort order", argument=argument
        )
    return values


def key_bound(ordering: Ordering, position: Sequence[Any], backward: bool) -> dict[str, Any]:
    """The range on the order's key that selects what comes after `position`."""
    ascending = (ordering.direction > 0) != backward
    return {ordering.key: {"$gt" if ascending else "$lt": position[-1]}}


def ranked_after(fields: Sequence[tuple[str, int]], values: Sequence[Any]) -> dict[str, Any]:
    """Lexicographic "after" over computed fields, for a pipeline stage after ranking."""
    branches: list[dict[str, Any]] = []
    for i, (name, direction) in enumerate(fields):
        branch = {fields[j][0]: values[j] for j in range(i)}
        branch[name] = {"$gt" if direction > 0 else "$lt": values[i]}
        branches.append(branch)
    return {"$or": branches}


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
