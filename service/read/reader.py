"""`GraphReader`: the per-request implementation of schema.context.DataAccess.

Built once per request, so its DataLoaders batch and cache only within that
request: N parents asking for their events cost one aggregation, not N finds.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any

import orjson
from bson import ObjectId
from bson.errors import InvalidId
from strawberry.dataloader import DataLoader

from schema.enums import CommunitySort, EventSort, StandardKind, StandardRole, StandardSort
from schema.inputs import CommunityEventFilter, CommunityFilter, EventFilter, StandardFilter
from schema.relay import Doc, Page, PageRequest
from service.documents.normalize import standard_code_key
from service.read import filters, search
from service.read.keyset import Ordering, assemble, decode_position, key_bound, ranked_after
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database

COMMUNITY_ORDER = {
    CommunitySort.NAME: Ordering("community.name", "keys.name"),
    CommunitySort.MEMBER_COUNT_DESC: Ordering("community.members", "keys.members", -1),
    CommunitySort.FOUNDED_YEAR: Ordering("community.founded", "keys.founded"),
    CommunitySort.UPDATED_DESC: Ordering("community.updated", "keys.updated", -1),
}
EVENT_ORDER = {
    EventSort.STARTS_AT: Ordering("event.start", "keys.start"),
    EventSort.STARTS_AT_DESC: Ordering("event.start_desc", "keys.start", -1),
}
STANDARD_ORDER = {StandardSort.CODE: Ordering("standard.code", "keys.code")}
# Search results are ranked, then ordered as the collection's default order.
RELEVANCE = {
    COMMUNITIES: Ordering("community.relevance", "keys.name", ranked=True),
    EVENTS: Ordering("event.relevance", "keys.start", ranked=True),
    STANDARDS: Ordering("standard.relevance", "keys.code", ranked=True),
}
# Documents are returned without their search terms: they are large and internal.
_PROJECTION = {"search_terms": 0}


def _object_ids(raw_ids: Sequence[str]) -> list[ObjectId | None]:
    parsed: list[ObjectId | None] = []
    for raw in raw_ids:
        try:
            parsed.append(ObjectId(raw))
        except (InvalidId, TypeError):
            parsed.append(None)
    return parsed


def _args_key(*parts: Any) -> str:
    """A hashable, canonical key for resolver arguments (inputs are unhashable dataclasses)."""

    def plain(value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        return getattr(value, "value", value)

    return orjson.dumps([plain(p) for p in parts], default=str).decode()


@dataclass(frozen=True)
class _NestedArgs:
    match: dict[str, Any]
    ordering: Ordering
    page: PageRequest
    with_total: bool


class _ByIdLoader:
    """Batches look-ups by id across the whole request into one `$in` query."""

    def __init__(self, db: Database, collection: str) -> None:
        self._db = db
        self._collection = collection
        self.loader: DataLoader[str, Doc | None] = DataLoader(self._load)

    async def _load(self, keys: list[str]) -> list[Doc | None]:
        ids = [i for i in _object_ids(keys) if i is not None]
        found: dict[str, Doc] = {}
        if ids:
            cursor = self._db[self._collection].find({"_id": {"$in": ids}}, _PROJECTION)
            async for doc in cursor:
                found[str(doc["_id"])] = doc
        return [found.get(key) for key in keys]


class _NestedPages:
    """Batches "page of children for each parent" into one aggregation per argument set."""

    def __init__(self, db: Database, collection: str, parent_field: str) -> None:
        self._db = db
        self._collection = collection
        self._parent_field = parent_field
        self._args: dict[str, _NestedArgs] = {}
        self.loader: DataLoader[tuple[str, str], Page] = DataLoader(self._load)

    async def load(self, parent_id: str, args: _NestedArgs, key: str) -> Page:
        # A bad cursor fails this field alone, not every parent batched with it.
        decode_position(args.page, args.ordering)
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

    async def _fetch(self, parents: list[str], args: _NestedArgs) -> dict[str, Page]:
        ids = [i for i in _object_ids(parents) if i is not None]
        position = decode_position(args.page, args.ordering)
        keyset = key_bound(args.ordering, position, backward=False) if position else {}
        grouped = await self._grouped(ids, filters.combine([args.match, keyset]), args)
        totals: dict[Hashable, int] = {k: n for k, (_, n) in grouped.items()}
        if args.with_total and keyset:
            # The count must ignore the cursor; only then is a second query needed.
            totals = {k: n for k, (_, n) in (await self._grouped(ids, args.match, args)).items()}
        return {
            parent: assemble(
                list(grouped.get(pid, ([], 0))[0]) if pid else [],
                args.page,
                args.ordering,
                totals.get(pid, 0) if args.with_total else None,
            )
            for parent, pid in zip(parents, _object_ids(parents), strict=True)
        }

    async def _grouped(
        self, ids: list[ObjectId], match: dict[str, Any], args: _NestedArgs
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
            {"$project": _PROJECTION},
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


class _Scans:
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
        scan = _args_key(collection, match)
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


class GraphReader:
    def __init__(self, db: Database, now: datetime) -> None:
        self._db = db
        self._now = now
        self._scans = _Scans(db)
        self._communities = _ByIdLoader(db, COMMUNITIES)
        self._events = _ByIdLoader(db, EVENTS)
        self._standards = _ByIdLoader(db, STANDARDS)
        self._community_events = _NestedPages(db, EVENTS, "organizers")
        self._community_members = _NestedPages(db, COMMUNITIES, "member_of")
        self._community_standards = {
            role: _NestedPages(db, STANDARDS, field) for role, field in filters.ROLE_FIELD.items()
        }

    # -- single objects -------------------------------------------------------------------

    async def community(self, community_id: str) -> Doc | None:
        return await self._communities.loader.load(community_id)

    async def communities_by_ids(self, community_ids: Sequence[str]) -> list[Doc | None]:
        return list(await self._communities.loader.load_many(community_ids))

    async def community_by_slug(self, slug: str) -> Doc | None:
        return await self._db[COMMUNITIES].find_one({"slug": slug}, _PROJECTION)

    async def event(self, event_id: str) -> Doc | None:
        return await self._events.loader.load(event_id)

    async def standard(self, standard_id: str) -> Doc | None:
        return await self._standards.loader.load(standard_id)

    async def standard_by_code(self, code: str) -> Doc | None:
        cursor = self._db[STANDARDS].find({"code_key": standard_code_key(code)}, _PROJECTION)
        docs = await cursor.sort("_id", 1).limit(1).to_list()
        return docs[0] if docs else None

    # -- lists ----------------------------------------------------------------------------

    async def communities(
        self,
        filter: CommunityFilter | None,
        search: str | None,
        sort: CommunitySort,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        match = filters.community_match(filter, self._now)
        ordering = None if sort is CommunitySort.RELEVANCE else COMMUNITY_ORDER[sort]
        return await self._list(COMMUNITIES, match, search, ordering, page, with_total)

    async def events(
        self,
        filter: EventFilter | None,
        search: str | None,
        sort: EventSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        match = filters.event_match(filter, self._now)
        ordering = None if sort is EventSort.RELEVANCE else EVENT_ORDER[sort]
        return await self._list(EVENTS, match, search, ordering, page, with_total)

    async def standards(
        self,
        filter: StandardFilter | None,
        search: str | None,
        sort: StandardSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        match = filters.standard_match(filter)
        ordering = None if sort is StandardSort.RELEVANCE else STANDARD_ORDER[sort]
        return await self._list(STANDARDS, match, search, ordering, page, with_total)

    async def _list(
        self,
        collection: str,
        match: dict[str, Any],
        text: str | None,
        ordering: Ordering | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        words = search.analyse(text)
        if text and text.strip() and not words:
            return Page(docs=[], cursors=[], total=0 if with_total else None)
        if words:
            match = filters.combine([search.term_match(words), match])
        if ordering is None:
            ordering = RELEVANCE[collection] if words else _default_order(collection)
        match = await self._indexable(collection, match)
        position = decode_position(page, ordering)
        fields = ordering.fields(page.backward)
        if not match and not ordering.ranked:
            return await self._walk(collection, ordering, page, position, with_total)
        stages: list[dict[str, Any]] = []
        if ordering.ranked:
            stages += search.score_stages(words)
            if position:
                stages.append({"$match": ranked_after(fields, position)})
        elif position:
            stages.append({"$match": key_bound(ordering, position, page.backward)})
        stages += [{"$sort": dict(fields)}, {"$limit": page.size + 1}, {"$project": _PROJECTION}]
        parts = {"page": stages}
        if with_total:
            parts["count"] = [{"$count": "n"}]
        answers = await self._scans.run(collection, match, parts)
        total: int | None = None
        if with_total:
            total = answers["count"][0]["n"] if answers["count"] else 0
        return assemble(answers["page"], page, ordering, total)

    async def _walk(
        self,
        collection: str,
        ordering: Ordering,
        page: PageRequest,
        position: list[Any] | None,
        with_total: bool,
    ) -> Page:
        """An unfiltered page: a walk of the order's own key index from the cursor on."""
        bound = key_bound(ordering, position, page.backward) if position else {}
        cursor = self._db[collection].find(bound, _PROJECTION).sort(ordering.fields(page.backward))

        async def count() -> int | None:
            # Everything: the collection's own count, not a filtered walk.
            return await self._db[collection].estimated_document_count() if with_total else None

        docs, total = await asyncio.gather(cursor.limit(page.size + 1).to_list(), count())
        return assemble(docs, page, ordering, total)

    async def _indexable(self, collection: str, match: dict[str, Any]) -> dict[str, Any]:
        """Replace `$or`/`$and` by the `_id` set they select.

        The embedded server answers a filter with a top-level `$or`/`$and` by
        scanning the collection; each branch alone is a flat, indexed query, so
        the branches are run separately (ids only) and combined here.
        """
        if "$or" not in match and "$and" not in match:
            return match
        rest = {k: v for k, v in match.items() if k not in ("$or", "$and")}
        selected: set[Any] | None = None
        for conjunct in match.get("$and", []):
            found = await self._ids(collection, filters.combine([rest, conjunct]))
            selected = found if selected is None else selected & found
        if "$or" in match:
            union: set[Any] = set()
            for branch in match["$or"]:
                union |= await self._ids(collection, filters.combine([rest, branch]))
            selected = union if selected is None else selected & union
        return filters.combine([rest, {"_id": {"$in": sorted(selected or ())}}])

    async def _ids(self, collection: str, match: dict[str, Any]) -> set[Any]:
        match = await self._indexable(collection, match)
        selection = filters.indexed(match)
        return {doc["_id"] async for doc in self._db[collection].find(selection, {"_id": 1})}

    # -- nested connections ---------------------------------------------------------------

    async def community_events(
        self,
        community_id: str,
        filter: CommunityEventFilter | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        args = _NestedArgs(
            filters.event_match(filter, self._now),
            EVENT_ORDER[EventSort.STARTS_AT],
            page,
            with_total,
        )
        key = _args_key(filter, page, with_total)
        return await self._community_events.load(community_id, args, key)

    async def community_standards(
        self,
        community_id: str,
        role: StandardRole,
        kinds: Sequence[StandardKind] | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        args = _NestedArgs(
            filters.standard_kinds(list(kinds) if kinds else None),
            STANDARD_ORDER[StandardSort.CODE],
            page,
            with_total,
        )
        key = _args_key(kinds, page, with_total)
        return await self._community_standards[role].load(community_id, args, key)

    async def community_members(
        self, community_id: str, page: PageRequest, with_total: bool
    ) -> Page:
        args = _NestedArgs({}, COMMUNITY_ORDER[CommunitySort.NAME], page, with_total)
        return await self._community_members.load(community_id, args, _args_key(page, with_total))

    # -- facets ---------------------------------------------------------------------------

    async def community_facets(
        self, filter: CommunityFilter | None, search: str | None
    ) -> dict[str, list[tuple[str, int]]]:
        match = filters.community_match(filter, self._now)
        return await self._facets(
            COMMUNITIES,
            match,
            search,
            {"kind": False, "form": False, "industries": True, "countries": True},
        )

    async def event_facets(
        self, filter: EventFilter | None, search: str | None
    ) -> dict[str, list[tuple[str, int]]]:
        match = filters.event_match(filter, self._now)
        return await self._facets(
            EVENTS, match, search, {"format": False, "attendance_mode": False, "month": False}
        )

    async def _facets(
        self, collection: str, match: dict[str, Any], text: str | None, fields: dict[str, bool]
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts per value of each field in one aggregation; True marks array fields."""
        words = search.analyse(text)
        if text and text.strip() and not words:
            return {name: [] for name in fields}
        if words:
            match = filters.combine([search.term_match(words), match])
        match = await self._indexable(collection, match)
        parts: dict[str, list[dict[str, Any]]] = {
            name: [
                *([{"$unwind": "$" + name}] if is_array else []),
                {"$group": {"_id": "$" + name, "count": {"$sum": 1}}},
                {"$sort": {"count": -1, "_id": 1}},
            ]
            for name, is_array in fields.items()
        }
        answers = await self._scans.run(collection, match, parts)
        return {
            name: [(str(r["_id"]), int(r["count"])) for r in answers[name] if r["_id"]]
            for name in fields
        }


def _default_order(collection: str) -> Ordering:
    return {
        COMMUNITIES: COMMUNITY_ORDER[CommunitySort.NAME],
        EVENTS: EVENT_ORDER[EventSort.STARTS_AT],
        STANDARDS: STANDARD_ORDER[StandardSort.CODE],
    }[collection]
