"""`GraphReader`: the per-request implementation of schema.ports.reads.DataAccess.

Built once per request, so its DataLoaders batch and cache only within that
request: N parents asking for their events cost one aggregation, not N finds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schema.enums import CommunitySort, EventSort, StandardKind, StandardRole, StandardSort
from schema.inputs import CommunityEventFilter, CommunityFilter, EventFilter, StandardFilter
from schema.relay import Doc, Page, PageRequest
from service.documents.normalize import standard_code_key
from service.read import filters, search
from service.read.loaders import (
    PROJECTION,
    ByIdLoader,
    NestedArgs,
    NestedPages,
    SharedScans,
    args_key,
)
from service.read.orders import (
    COMMUNITY_ORDER,
    EVENT_ORDER,
    RELEVANCE,
    STANDARD_ORDER,
    default_order,
)
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database
from service.storage.keyset import Ordering


class GraphReader:
    def __init__(self, db: Database, now: datetime) -> None:
        self._db = db
        self._now = now
        self._scans = SharedScans(db)
        self._communities = ByIdLoader(db, COMMUNITIES)
        self._events = ByIdLoader(db, EVENTS)
        self._standards = ByIdLoader(db, STANDARDS)
        self._community_events = NestedPages(db, EVENTS, "organizers")
        self._community_members = NestedPages(db, COMMUNITIES, "member_of")
        self._community_standards = {
            role: NestedPages(db, STANDARDS, field) for role, field in filters.ROLE_FIELD.items()
        }

    # -- single objects -------------------------------------------------------------------

    async def community(self, community_id: str) -> Doc | None:
        return await self._communities.loader.load(community_id)

    async def communities_by_ids(self, community_ids: Sequence[str]) -> list[Doc | None]:
        return list(await self._communities.loader.load_many(community_ids))

    async def community_by_slug(self, slug: str) -> Doc | None:
        return await self._db[COMMUNITIES].find_one({"slug": slug}, PROJECTION)

    async def event(self, event_id: str) -> Doc | None:
        return await self._events.loader.load(event_id)

    async def standard(self, standard_id: str) -> Doc | None:
        return await self._standards.loader.load(standard_id)

    async def standard_by_code(self, code: str) -> Doc | None:
        cursor = self._db[STANDARDS].find({"code_key": standard_code_key(code)}, PROJECTION)
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
            ordering = RELEVANCE[collection] if words else default_order(collection)
        match = await self._indexable(collection, match)
        position = ordering.position(page)
        fields = ordering.fields(page.backward)
        if not match and not ordering.is_ranked:
            return await self._walk(collection, ordering, page, position, with_total)
        stages: list[dict[str, Any]] = []
        if ordering.is_ranked:
            stages += search.score_stages(words)
        if position:
            # After ranking, the cursor's score fields exist to compare with.
            stages.append({"$match": ordering.after(position, page.backward)})
        stages += [{"$sort": dict(fields)}, {"$limit": page.size + 1}, {"$project": PROJECTION}]
        parts = {"page": stages}
        if with_total:
            parts["count"] = [{"$count": "n"}]
        answers = await self._scans.run(collection, match, parts)
        total: int | None = None
        if with_total:
            total = answers["count"][0]["n"] if answers["count"] else 0
        return ordering.page(answers["page"], page, total)

    async def _walk(
        self,
        collection: str,
        ordering: Ordering,
        page: PageRequest,
        position: list[Any] | None,
        with_total: bool,
    ) -> Page:
        """An unfiltered page: a walk of the order's own key index from the cursor on."""
        bound = ordering.after(position, page.backward) if position else {}
        cursor = self._db[collection].find(bound, PROJECTION).sort(ordering.fields(page.backward))

        async def count() -> int | None:
            # Everything: the collection's own count, not a filtered walk.
            return await self._db[collection].estimated_document_count() if with_total else None

        docs, total = await asyncio.gather(cursor.limit(page.size + 1).to_list(), count())
        return ordering.page(docs, page, total)

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
        args = NestedArgs(
            filters.event_match(filter, self._now),
            EVENT_ORDER[EventSort.STARTS_AT],
            page,
            with_total,
        )
        key = args_key(filter, page, with_total)
        return await self._community_events.load(community_id, args, key)

    async def community_standards(
        self,
        community_id: str,
        role: StandardRole,
        kinds: Sequence[StandardKind] | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page:
        args = NestedArgs(
            filters.standard_kinds(list(kinds) if kinds else None),
            STANDARD_ORDER[StandardSort.CODE],
            page,
            with_total,
        )
        key = args_key(kinds, page, with_total)
        return await self._community_standards[role].load(community_id, args, key)

    async def community_members(
        self, community_id: str, page: PageRequest, with_total: bool
    ) -> Page:
        args = NestedArgs({}, COMMUNITY_ORDER[CommunitySort.NAME], page, with_total)
        return await self._community_members.load(community_id, args, args_key(page, with_total))

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
