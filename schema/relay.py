"""Relay building blocks: global ids, opaque cursors, connections and page requests."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
import strawberry

from schema.errors import UserInputError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")
# A stored document (a `schema.documents` type) or a row: what a page holds.
D = TypeVar("D", bound=Mapping[str, Any])


def to_global_id(type_name: str, raw_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def from_global_id(global_id: str, *, argument: str = "id") -> tuple[str, str]:
    """Decode "<Type>:<raw id>"; anything else is the client's mistake."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw_id = base64.urlsafe_b64decode(padded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserInputError(f"'{argument}' is not a valid global id", argument=argument) from None
    if not type_name or not raw_id:
        raise UserInputError(f"'{argument}' is not a valid global id", argument=argument)
    return type_name, raw_id


def expect_global_id(global_id: str, type_name: str, *, argument: str = "id") -> str:
    found_type, raw_id = from_global_id(global_id, argument=argument)
    if found_type != type_name:
        raise UserInputError(f"'{argument}' is not a {type_name} id", argument=argument)
    return raw_id


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, *, argument: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise UserInputError(f"'{argument}' is not a valid cursor", argument=argument) from None
    if not isinstance(values, list) or not values:
        raise UserInputError(f"'{argument}' is not a valid cursor", argument=argument)
    return values


@dataclass(frozen=True)
class PageRequest:
    """Validated Relay arguments: forward (first/after) or backward (last/before)."""

    size: int
    backward: bool = False
    cursor: list[Any] | None = None

    @classmethod
    def build(
        cls,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        *,
        default: int = DEFAULT_PAGE_SIZE,
    ) -> PageRequest:
        for name, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise UserInputError(
                    f"'{name}' must be between 0 and {MAX_PAGE_SIZE}, got {value}", argument=name
                )
        if first is not None and last is not None:
            raise UserInputError("pass either 'first' or 'last', not both", argument="last")
        if after is not None and before is not None:
            raise UserInputError("pass either 'after' or 'before', not both", argument="before")
        if last is not None or before is not None:
            if after is not None or first is not None:
                raise UserInputError(
                    "'last'/'before' page backwards and cannot be combined with 'first'/'after'",
                    argument="last",
                )
            cursor = decode_cursor(before, argument="before") if before else None
            return cls(size=last if last is not None else default, backward=True, cursor=cursor)
        cursor = decode_cursor(after, argument="after") if after else None
        return cls(size=first if first is not None else default, cursor=cursor)


@dataclass
class Page(Generic[D]):
    """What a store returns for one page: documents in order plus their cursors."""

    docs: list[D]
    cursors: list[str]
    has_next: bool = False
    has_previous: bool = False
    total: int | None = None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    # Only computed when the query selects it (see `selects`); None otherwise.
    count: strawberry.Private[int | None]

    @strawberry.field(description="Number of items matching the filter (costs a count).")
    def total_count(self) -> int:
        return self.count or 0

    @classmethod
    def from_page(cls, page: Page[D], convert: Callable[[D], T]) -> Connection[T]:
        edges = [
            Edge(cursor=cursor, node=convert(doc))
            for doc, cursor in zip(page.docs, page.cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=page.total,
        )
