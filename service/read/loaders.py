"""Per-request batching: look-ups by id, nested pages per parent, and shared scans.

Built once per request (see GraphReader), so they batch and cache only within it:
N parents asking for their events cost one aggregation, not N finds."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import orjson
from bson import ObjectId
from bson.errors import InvalidId
from strawberry.dataloader import DataLoader

from schema.relay import Doc, Page, PageRequest
from service.read import filters
from service.storage.collections import Database
from service.storage.keyset import Ordering

# Documents are returned without their search terms: they are large and internal.
PROJECTION = {"search_terms": 0}


def object_ids(raw_ids: Sequence[str]) -> list[ObjectId | None]:
    parsed: list[ObjectId | None] = []
    for raw in raw_ids:
        try:
            parsed.append(ObjectId(raw))
        except (InvalidId, TypeError):
            parsed.append(None)
    return parsed


def args_key(*parts: Any) -> str:
    """A hashable, canonical key for resolver arguments (inputs are unhashable dataclasses)."""

    def plain(value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        return getattr(value, "value", value)

    return orjson.dumps([plain(p) for p in parts], default=str).decode()


@dataclass(frozen=True)
class NestedArgs:
    match: dict[str, Any]
    ordering: Ordering
    page: PageRequest
    with_total: bool


class ByIdLoader:
    """Batches look-ups by id across the whole request into one `$in` query."""

    def __init__(self, db: Database, collection: str) -> None:
        self._db = db
        self._collection = collection
        self.loader: DataLoader[str, Doc | None] = DataLoader(self._load)

    async def _load(self, keys: list[str]) -> list[Doc | None]:
        ids = [i for i in object_ids(keys) if i is not None]
        found: dict[str, Doc] = {}
        if ids:
            cursor = self._db[self._collection].find({"_id": {"$in": ids}}, PROJECTION)
            async for doc in cursor:
                found[str(doc["_id"])] = doc
        return [found.get(key) for key in keys]


class NestedPages:
    """Batches "page of children for each parent" into one aggregation per argument set."""

    def __init__(self, db: Database, collection: str, parent_field: str) -> None:
        self._db = db
        self._collection = collection
        self._parent_field = parent_field
        self._args: dict[str, NestedArgs] = {}
        self.loader: DataLoader[tuple[str, str], Page] = DataLoader(self._load)

    async def load(self, parent_id: str, args: NestedArgs, key: str) -> Page:
        # A bad cursor fails this field alone, not every parent batched with it.
        args.ordering.position(args.page)
        self._args[key] = args
        return await self.loader.load((parent_id, key))

    async def _load(self, keys: list[tuple[str, str]]) -> list[Page]:
        groups: dict[str, list[str]] = defaultdict(list)
        for parent, key in keys:
            groups[key].append(parent)
        fetched = await asyncio.gather(
            *(self._fetch(parents, self._args[key]) for key, parents in groups.items())
        )
        pages = {
            (parent, key): page
            for key, by_parent in zip(groups, fetched, strict=True)
            for parent, page in by_parent.items()
        }
        return [pages[k] for k in keys]

    async def _fetch(self, parents: list[str], args: NestedArgs) -> dict[str, Page]:
        ids = [i for i in object_ids(parents) if i is not None]
        position = args.ordering.position(args.page)
        keyset = args.ordering.after(position) if position else {}
        grouped = await self._grouped(ids, filters.combine([args.match, keyset]), args)
        totals: dict[Hashable, int] = {k: n for k, (_, n) in grouped.items()}
        if args.with_total and keyset:
            # The count must ignore the cursor; only then is a second query needed.
            totals = {k: n for k, (_, n) in (await self._grouped(ids, args.match, args)).items()}
        return {
            parent: args.ordering.page(
                list(grouped.get(pid, ([], 0))[0]) if pid else [],
                args.page,
                totals.get(pid, 0) if args.with_total else None,
            )
            for parent, pid in zip(parents, object_ids(parents), strict=True)
        }

    async def _grouped(
        self, ids: list[ObjectId], match: dict[str, Any], args: NestedArgs
    ) -> dict[Hashable, tuple[list[Doc], int]]:
        if not ids:
            return {}
        parent = "$" + self._parent_field
        pipeline: list[dict[str, Any]] = [
            {
                "$match": filters.indexed(
                    filters.combine([{self._parent_field: {"$in": ids}}, match])
                )
            },
            {"$project": PROJECTION},
            {"$sort": dict(args.ordering.fields())},
            {"$addFields": {"_parent": parent}},
            {"$unwind": "$_parent"},
            {"$match": {"_parent": {"$in": ids}}},
            {"$group": {"_id": "$_parent", "docs": {"$push": "$$ROOT"}, "n": {"$sum": 1}}},
            {"$project": {"docs": {"$slice": ["$docs", args.page.size + 1]}, "n": 1}},
        ]
        result: dict[Hashable, tuple[list[Doc], int]] = {}
        async for row in await self._db[self._collection].aggregate(pipeline):
            result[row["_id"]] = (row["docs"], row["n"])
        return result


class SharedScans:
    """Per request: every part asked over the same filter is answered by one aggregation.

    A list page, its `totalCount` and the `facets` of the same filter (the usual
    search page) would each read every matching document; the embedded server
    reads one document at a time, so they share one `$facet` pass instead.
    Parts asked in the same tick of the event loop are batched (DataLoader).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._scans: dict[str, tuple[str, dict[str, Any]]] = {}
        self._stages: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.loader: DataLoader[tuple[str, str], list[Doc]] = DataLoader(self._load, cache=False)

    async def run(
        self, collection: str, match: dict[str, Any], parts: dict[str, list[dict[str, Any]]]
    ) -> dict[str, list[Doc]]:
        scan = args_key(collection, match)
        self._scans[scan] = (collection, match)
        keys = [(scan, name) for name in parts]
        for key, stages in zip(keys, parts.values(), strict=True):
            self._stages[key] = stages
        results = await self.loader.load_many(keys)
        return dict(zip(parts, results, strict=True))

    async def _load(self, keys: list[tuple[str, str]]) -> list[list[Doc]]:
        by_scan: dict[str, list[str]] = defaultdict(list)
        for scan, name in keys:
            by_scan[scan].append(name)
        answers = await asyncio.gather(*(self._scan(s, names) for s, names in by_scan.items()))
        found = {
            (scan, name): docs
            for scan, parts in zip(by_scan, answers, strict=True)
            for name, docs in parts.items()
        }
        return [found[key] for key in keys]

    async def _scan(self, scan: str, names: list[str]) -> dict[str, list[Doc]]:
        collection, match = self._scans[scan]
        head = {"$match": filters.indexed(match)}
        if len(names) == 1:
            pipeline = [head, *self._stages[(scan, names[0])]]
            return {names[0]: await (await self._db[collection].aggregate(pipeline)).to_list()}
        facet = {name: self._stages[(scan, name)] for name in names}
        rows = await (await self._db[collection].aggregate([head, {"$facet": facet}])).to_list()
        return {name: list(rows[0].get(name, [])) if rows else [] for name in names}
