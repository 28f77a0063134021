"""`GraphReader`: the per-request implementation of schema.ports.reads.DataAccess,
over this host's read model (service.read_model): no database round trip.

Built once per request, so its DataLoaders batch and cache only within that
request. Queries are plain SQLite on the event loop's thread: each is an indexed
look-up or a short scan of milliseconds, cheaper than handing it to a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schema.documents import CommunityView, EventView, StandardView
from schema.enums import CommunitySort, EventSort, StandardKind, StandardRole, StandardSort
from schema.inputs import CommunityEventFilter, CommunityFilter, EventFilter, StandardFilter
from schema.relay import D, Page, PageRequest
from service.documents.normalize import standard_code_key
from service.read import filters
from service.read.filters import Condition, every
from service.read.loaders import (
    ByIdLoader,
    Children,
    Connect,
    NestedArgs,
    NestedPages,
    args_key,
    with_keys,
)
from service.read.orders import (
    COMMUNITY_ORDER,
    DEFAULT,
    EVENT_ORDER,
    RELEVANCE,
    STANDARD_ORDER,
    order_by,
    sql_after,
)
from service.read.search import analyse, ranking
from service.read_model.rows import COMMUNITIES, EVENTS, STANDARDS, decode_doc
from service.read_model.tables import MAIN, TERMS
from service.storage import stored
from service.storage.keyset import Ordering
from service.storage.stored import Stored

ALIAS = {COMMUNITIES: "c", EVENTS: "e", STANDARDS: "s"}
COMMUNITY_FACETS = (("kind", False), ("form", False), ("industries", True), ("countries", True))
EVENT_FACETS = (("format", False), ("attendance_mode", False), ("month", False))


class GraphReader:
    def __init__(self, connect: Connect, now: datetime) -> None:
        self._connect = connect
        self._now = now
        self._communities = ByIdLoader(connect, COMMUNITIES, stored.community_view)
        self._events = ByIdLoader(connect, EVENTS, stored.event_view)
        self._standards = ByIdLoader(connect, STANDARDS, stored.standard_view)
        self._community_events = NestedPages(
            connect,
            Children(
                "event_organizers o JOIN events e ON e.id = o.event_id", "o.community_id", "e"
            ),
            stored.event_view,
        )
        self._community_members = NestedPages(
            connect,
            Children(
                "community_values v JOIN communities c ON c.id = v.id",
                "v.value",
                "c",
                Condition("v.field = ?", ("member_of",)),
            ),
            stored.community_view,
        )
        issued = Children("standards s", "s.issuer", "s")
        self._community_standards = {
            StandardRole.ISSUED: NestedPages(connect, issued, stored.standard_view),
            **{
                role: NestedPages(
                    connect,
                    Children(
                        "standard_values v JOIN standards s ON s.id = v.id",
                        "v.value",
                        "s",
                        Condition("v.field = ?", (field,)),
                    ),
                    stored.standard_view,
                )
                for role, field in (
                    (StandardRole.ADOPTED, "adopters"),
                    (StandardRole.ANY, "parties"),
                )
            },
        }

    # -- single objects -------------------------------------------------------------------

    async def community(self, community_id: str) -> CommunityView | None:
        return await self._communities.loader.load(community_id)

    async def communities_by_ids(self, community_ids: Sequence[str]) -> list[CommunityView | None]:
        return list(await self._communities.loader.load_many(community_ids))

    async def community_by_slug(self, slug: str) -> CommunityView | None:
        return self._one(
            "SELECT doc FROM communities WHERE slug = ?", (slug,), stored.community_view
        )

    async def event(self, event_id: str) -> EventView | None:
        return await self._events.loader.load(event_id)

    async def standard(self, standard_id: str) -> StandardView | None:
        return await self._standards.loader.load(standard_id)

    async def standard_by_code(self, code: str) -> StandardView | None:
        return self._one(
            "SELECT doc FROM standards WHERE code_key = ? ORDER BY id LIMIT 1",
            (standard_code_key(code),),
            stored.standard_view,
        )

    def _one(self, sql: str, params: tuple[Any, ...], convert: Stored[D]) -> D | None:
        row = self._connect().execute(sql, params).fetchone()
        return convert(decode_doc(row[0])) if row else None

    # -- lists ----------------------------------------------------------------------------

    async def communities(
        self,
        filter: CommunityFilter | None,
        search: str | None,
        sort: CommunitySort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[CommunityView]:
        condition = filters.community_condition(filter, self._now)
        ordering = None if sort is CommunitySort.RELEVANCE else COMMUNITY_ORDER[sort]
        return self._list(
            COMMUNITIES, condition, search, ordering, page, with_total, stored.community_view
        )

    async def events(
        self,
        filter: EventFilter | None,
        search: str | None,
        sort: EventSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[EventView]:
        condition = filters.event_condition(filter, self._now)
        ordering = None if sort is EventSort.RELEVANCE else EVENT_ORDER[sort]
        return self._list(EVENTS, condition, search, ordering, page, with_total, stored.event_view)

    async def standards(
        self,
        filter: StandardFilter | None,
        search: str | None,
        sort: StandardSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[StandardView]:
        condition = filters.standard_condition(filter)
        ordering = None if sort is StandardSort.RELEVANCE else STANDARD_ORDER[sort]
        return self._list(
            STANDARDS, condition, search, ordering, page, with_total, stored.standard_view
        )

    def _list(
        self,
        collection: str,
        condition: Condition,
        text: str | None,
        ordering: Ordering | None,
        page: PageRequest,
        with_total: bool,
        convert: Stored[D],
    ) -> Page[D]:
        words = analyse(text)
        if text and text.strip() and not words:
            return Page(docs=[], cursors=[], total=0 if with_total else None)
        if ordering is None:
            ordering = RELEVANCE[collection] if words else DEFAULT[collection]
        alias = ALIAS[collection]
        position = ordering.position(page)
        head, source, head_params = self._source(collection, words)
        keyset = sql_after(ordering, position, page.backward, alias) if position else Condition()
        where = every([condition, keyset])
        keys = [name for name, _ in ordering.fields()]
        columns = ", ".join(
            f"r.{name[1:]} AS {name}" if name.startswith("_") else f"{alias}.{name}"
            for name in keys
        )
        rows = (
            self._connect()
            .execute(
                f"{head} SELECT {alias}.doc, {columns} FROM {source} {where.where()} "
                f"ORDER BY {order_by(ordering, page.backward, alias)} LIMIT ?",
                (*head_params, *where.params, page.size + 1),
            )
            .fetchall()
        )
        total: int | None = None
        if with_total:
            total = self._count(head, source, head_params, condition)
        return ordering.page([with_keys(row, keys, convert) for row in rows], page, total)

    def _source(self, collection: str, words: list[Any]) -> tuple[str, str, tuple[Any, ...]]:
        """The FROM clause: the entity table, joined with its search ranking when searching."""
        table, alias = MAIN[collection], ALIAS[collection]
        if not words:
            return "", f"{table} {alias}", ()
        ranked = ranking(words, TERMS[collection])
        return (
            f"WITH {ranked.sql}",
            f"ranked r JOIN {table} {alias} ON {alias}.id = r.id",
            ranked.params,
        )

    def _count(self, head: str, source: str, params: tuple[Any, ...], condition: Condition) -> int:
        row = (
            self._connect()
            .execute(
                f"{head} SELECT COUNT(*) FROM {source} {condition.where()}",
                (*params, *condition.params),
            )
            .fetchone()
        )
        return int(row[0])

    # -- nested connections ---------------------------------------------------------------

    async def community_events(
        self,
        community_id: str,
        filter: CommunityEventFilter | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page[EventView]:
        args = NestedArgs(
            filters.event_condition(filter, self._now),
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
    ) -> Page[StandardView]:
        args = NestedArgs(
            filters.standard_kinds(kinds), STANDARD_ORDER[StandardSort.CODE], page, with_total
        )
        key = args_key(kinds, page, with_total)
        return await self._community_standards[role].load(community_id, args, key)

    async def community_members(
        self, community_id: str, page: PageRequest, with_total: bool
    ) -> Page[CommunityView]:
        args = NestedArgs(Condition(), COMMUNITY_ORDER[CommunitySort.NAME], page, with_total)
        return await self._community_members.load(community_id, args, args_key(page, with_total))

    # -- facets ---------------------------------------------------------------------------

    async def community_facets(
        self, filter: CommunityFilter | None, search: str | None, groups: frozenset[str]
    ) -> dict[str, list[tuple[str, int]]]:
        condition = filters.community_condition(filter, self._now)
        fields = [field for field in COMMUNITY_FACETS if field[0] in groups]
        return self._facets(COMMUNITIES, condition, search, fields, "community_values")

    async def event_facets(
        self, filter: EventFilter | None, search: str | None, groups: frozenset[str]
    ) -> dict[str, list[tuple[str, int]]]:
        condition = filters.event_condition(filter, self._now)
        fields = [field for field in EVENT_FACETS if field[0] in groups]
        return self._facets(EVENTS, condition, search, fields, None)

    def _facets(
        self,
        collection: str,
        condition: Condition,
        text: str | None,
        fields: Sequence[tuple[str, bool]],
        values_table: str | None,
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts per value of each field; True marks multi-valued fields."""
        words = analyse(text)
        if text and text.strip() and not words:
            return {name: [] for name, _ in fields}
        alias = ALIAS[collection]
        head, source, params = self._source(collection, words)
        selected = f"SELECT {alias}.id FROM {source} {condition.where()}"
        answers: dict[str, list[tuple[str, int]]] = {}
        for name, multi in fields:
            if multi:
                sql = (
                    f"{head} SELECT value, COUNT(*) AS n FROM {values_table} "
                    f"WHERE field = ? AND id IN ({selected}) GROUP BY value"
                )
                args: tuple[Any, ...] = (*params, name, *condition.params)
            else:
                sql = (
                    f"{head} SELECT {alias}.{name} AS value, COUNT(*) AS n "
                    f"FROM {source} {condition.where()} GROUP BY {alias}.{name}"
                )
                args = (*params, *condition.params)
            counted = [(str(v), int(n)) for v, n in self._connect().execute(sql, args) if v]
            answers[name] = sorted(counted, key=lambda item: (-item[1], item[0]))
        return answers
