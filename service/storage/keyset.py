"""Keyset (cursor) pagination: the one implementation every list of the service uses.

An `Ordering` names a list's sort keys, the last of which is unique (an entity's
precomputed `keys.<order>` ends with its id; run history breaks ties on `_id`).
A cursor holds the list's tag and the sort-key values of the row it points at;
"after the cursor" is then a range on the first key (an index walks it), with
the lexicographic tie-break on the others only when there are several, so no
`skip` ever reads the documents it passes over.

The tag names the list and order a cursor was made for, so a cursor from another
list is refused instead of silently selecting the wrong page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from schema.errors import UserInputError
from schema.relay import D, Page, PageRequest, encode_cursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class SortKey:
    """One sort key: a document path, its direction, and the type of its values.

    Cursors are JSON, so times travel as milliseconds and ObjectIds as hex.
    """

    path: str
    direction: int = 1
    kind: type = str

    def to_cursor(self, value: Any) -> Any:
        if self.kind is datetime:
            return (value - _EPOCH) // _MS
        if self.kind is ObjectId:
            return str(value)
        return value

    def from_cursor(self, value: Any) -> Any:
        """The stored value a cursor value stands for; None when it cannot be one."""
        if self.kind is datetime:
            return _EPOCH + value * _MS if isinstance(value, int) else None
        if self.kind is ObjectId:
            return ObjectId(value) if isinstance(value, str) and ObjectId.is_valid(value) else None
        if self.kind is float:
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None
        return value if isinstance(value, self.kind) else None


SCORE = (SortKey("_matched", -1, float), SortKey("_score", -1, float))


@dataclass(frozen=True)
class Ordering:
    """A list order: `tag` for its cursors, then its sort keys (the last one unique)."""

    tag: str
    keys: tuple[SortKey, ...]

    @classmethod
    def by(cls, tag: str, path: str, direction: int = 1) -> Ordering:
        """An order on one precomputed unique key (`keys.<order>`)."""
        return cls(tag, (SortKey(path, direction),))

    @classmethod
    def ranked(cls, tag: str, path: str) -> Ordering:
        """Search results: by the computed match fields, then by `path`."""
        return cls(tag, (*SCORE, SortKey(path)))

    @property
    def is_ranked(self) -> bool:
        return self.keys[0] == SCORE[0]

    def fields(self, backward: bool = False) -> list[tuple[str, int]]:
        flip = -1 if backward else 1
        return [(key.path, key.direction * flip) for key in self.keys]

    def cursor(self, doc: Mapping[str, Any]) -> str:
        return encode_cursor([self.tag, *(key.to_cursor(_get(doc, key.path)) for key in self.keys)])

    def position(self, page: PageRequest) -> list[Any] | None:
        """The sort-key values the page's cursor points at (None without a cursor)."""
        if page.cursor is None:
            return None
        argument = "before" if page.backward else "after"
        tag, *values = page.cursor
        decoded = (
            [key.from_cursor(value) for key, value in zip(self.keys, values, strict=True)]
            if tag == self.tag and len(values) == len(self.keys)
            else [None]
        )
        if any(value is None for value in decoded):
            raise UserInputError(
                f"'{argument}' is a cursor from a different list or sort order", argument=argument
            )
        return decoded

    def after(self, position: Sequence[Any], backward: bool = False) -> dict[str, Any]:
        """The filter that selects what comes after `position` in this order (or before it,
        reading `backward`)."""
        fields = self.fields(backward)
        first, direction = fields[0]
        if len(fields) == 1:
            return {first: {"$gt" if direction > 0 else "$lt": position[0]}}
        branches: list[dict[str, Any]] = []
        for i, (name, field_direction) in enumerate(fields):
            branch: dict[str, Any] = {fields[j][0]: position[j] for j in range(i)}
            branch[name] = {"$gt" if field_direction > 0 else "$lt": position[i]}
            branches.append(branch)
        # The range on the first key lets an index find the candidates; the `$or` is exact.
        return {first: {"$gte" if direction > 0 else "$lte": position[0]}, "$or": branches}

    def page(self, docs: list[D], page: PageRequest, total: int | None = None) -> Page[D]:
        """Cut the look-ahead document (one more than the page was read) and orient the
        page forwards."""
        has_more = len(docs) > page.size
        docs = docs[: page.size]
        if page.backward:
            docs.reverse()
        return Page(
            docs=docs,
            cursors=[self.cursor(doc) for doc in docs],
            has_next=(page.cursor is not None) if page.backward else has_more,
            has_previous=has_more if page.backward else page.cursor is not None,
            total=total,
        )


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
