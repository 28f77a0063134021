"""Per-request batching over the read model: look-ups by id and nested pages per parent.

Built once per request (see GraphReader), so they batch and cache only within it:
N parents asking for their events cost one query, not N.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Generic

import orjson
from strawberry.dataloader import DataLoader

from schema.relay import D, Page, PageRequest
from service.read.filters import Condition, every
from service.read.orders import order_by, sql_after
from service.read_model.rows import decode_doc
from service.read_model.tables import MAIN
from service.storage.keyset import Ordering
from service.storage.stored import Stored

# This process's read-model connection, asked for at the moment of each query: a file
# rebuilt meanwhile is reopened, and one not built yet fails only the fields that read.
Connect = Callable[[], sqlite3.Connection]


def args_key(*parts: Any) -> str:
    """A hashable, canonical key for resolver arguments (inputs are unhashable dataclasses)."""

    def plain(value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        return getattr(value, "value", value)

    return orjson.dumps([plain(p) for p in parts], default=str).decode()


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def with_keys(row: Sequence[Any], names: Sequence[str], convert: Stored[D]) -> D:
    """The stored document, with the sort-key values its cursor is made of."""
    doc = decode_doc(row[0])
    for index, name in enumerate(names, start=1):
        doc[name] = row[index]
    return convert(doc)


class ByIdLoader(Generic[D]):
    """Batches look-ups by id across the whole request into one `IN` query. An id
    merged into another entity gives that survivor (one more query, only for misses)."""

    def __init__(self, connect: Connect, collection: str, convert: Stored[D]) -> None:
        self._connect = connect
        self._collection = collection
        self._table = MAIN[collection]
        self._convert = convert
        self.loader: DataLoader[str, D | None] = DataLoader(self._load)

    async def _load(self, keys: list[str]) -> list[D | None]:
        connection = self._connect()
        found = self._rows(connection, list(dict.fromkeys(keys)))
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        moved = self._redirects(connection, missing) if missing else {}
        if moved:
            survivors = self._rows(connection, sorted(set(moved.values())))
            found.update((old, survivors[to]) for old, to in moved.items() if to in survivors)
        return [found.get(key) for key in keys]

    def _redirects(self, connection: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
        """old id -> the survivor it was merged into (service.read_model.redirects)."""
        found: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = connection.execute(
                "SELECT id, to_id FROM redirects "
                f"WHERE collection = ? AND id IN ({placeholders(chunk)})",
                (self._collection, *chunk),
            )
            found.update((str(old), str(to)) for old, to in rows)
        return found

    def _rows(self, connection: sqlite3.Connection, wanted: list[str]) -> dict[str, D]:
        found: dict[str, D] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = connection.execute(
                f"SELECT id, doc FROM {self._table} WHERE id IN ({placeholders(chunk)})", chunk
            ).fetchall()
            found.update((row[0], self._convert(decode_doc(row[1]))) for row in rows)
        return found


@dataclass(frozen=True)
class Children:
    """Where a parent's children are: `source` (FROM ... JOIN ...), the column naming
    their parent, the child table's alias, and fixed conditions with parameters."""

    source: str
    parent: str
    alias: str
    condition: Condition = field(default_factory=Condition)


@dataclass(frozen=True)
class NestedArgs:
    condition: Condition
    ordering: Ordering
    page: PageRequest
    with_total: bool


class NestedPages(Generic[D]):
    """Batches "a page of children for each parent" into one windowed query per argument set."""

    def __init__(self, connect: Connect, children: Children, convert: Stored[D]) -> None:
        self._connect = connect
        self._children = children
        self._convert = convert
        self._args: dict[str, NestedArgs] = {}
        self.loader: DataLoader[tuple[str, str], Page[D]] = DataLoader(self._load)

    async def load(self, parent_id: str, args: NestedArgs, key: str) -> Page[D]:
        # A bad cursor fails this field alone, not every parent batched with it.
        args.ordering.position(args.page)
        self._args[key] = args
        return await self.loader.load((parent_id, key))

    async def _load(self, keys: list[tuple[str, str]]) -> list[Page[D]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for parent, key in keys:
            groups[key].append(parent)
        pages: dict[tuple[str, str], Page[D]] = {}
        for key, parents in groups.items():
            for parent, page in self._fetch(list(dict.fromkeys(parents)), self._args[key]).items():
                pages[(parent, key)] = page
        return [pages[k] for k in keys]

    def _fetch(self, parents: list[str], args: NestedArgs) -> dict[str, Page[D]]:
        children, ordering, page = self._children, args.ordering, args.page
        alias = children.alias
        position = ordering.position(page)
        keyset = sql_after(ordering, position, page.backward, alias) if position else Condition()
        where = every(
            [
                Condition(f"{children.parent} IN ({placeholders(parents)})", tuple(parents)),
                children.condition,
                args.condition,
                keyset,
            ]
        )
        keys = [name for name, _ in ordering.fields()]
        columns = ", ".join(f"{alias}.{name}" for name in keys)
        sql = (
            f"SELECT parent, doc, {', '.join(keys)} FROM ("
            f"SELECT {children.parent} AS parent, {alias}.doc AS doc, {columns}, "
            f"ROW_NUMBER() OVER (PARTITION BY {children.parent} "
            f"ORDER BY {order_by(ordering, page.backward, alias)}) AS rank "
            f"FROM {children.source} {where.where()}) WHERE rank <= ? ORDER BY parent, rank"
        )
        found: dict[str, list[D]] = defaultdict(list)
        for row in self._connect().execute(sql, (*where.params, page.size + 1)):
            found[row[0]].append(with_keys(row[1:], keys, self._convert))
        totals: dict[str, int] = {}
        if args.with_total:
            counted = every(
                [
                    Condition(f"{children.parent} IN ({placeholders(parents)})", tuple(parents)),
                    children.condition,
                    args.condition,
                ]
            )
            totals = dict(
                self._connect()
                .execute(
                    f"SELECT {children.parent}, COUNT(*) FROM {children.source} "
                    f"{counted.where()} GROUP BY {children.parent}",
                    counted.params,
                )
                .fetchall()
            )
        return {
            parent: ordering.page(
                found.get(parent, []), page, totals.get(parent, 0) if args.with_total else None
            )
            for parent in parents
        }
