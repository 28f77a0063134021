"""The read port: `DataAccess`, the graph as resolvers read it.

`service/` implements it per request (with DataLoaders, so nested fields of many
parents cost one query per field, not one per parent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from schema.documents import CommunityView, EventView, StandardView
from schema.enums import CommunitySort, EventSort, StandardKind, StandardRole, StandardSort
from schema.inputs import CommunityEventFilter, CommunityFilter, EventFilter, StandardFilter
from schema.relay import Page, PageRequest


class DataAccess(Protocol):
    """Reads the graph. Ids are raw entity ids (not global ids); documents come as
    stored, without their search terms."""

    async def communities(
        self,
        filter: CommunityFilter | None,
        search: str | None,
        sort: CommunitySort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[CommunityView]: ...

    async def community(self, community_id: str) -> CommunityView | None: ...

    async def communities_by_ids(
        self, community_ids: Sequence[str]
    ) -> list[CommunityView | None]: ...

    async def community_by_slug(self, slug: str) -> CommunityView | None: ...

    async def community_events(
        self,
        community_id: str,
        filter: CommunityEventFilter | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page[EventView]: ...

    async def community_standards(
        self,
        community_id: str,
        role: StandardRole,
        kinds: Sequence[StandardKind] | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page[StandardView]: ...

    async def community_members(
        self, community_id: str, page: PageRequest, with_total: bool
    ) -> Page[CommunityView]: ...

    async def events(
        self,
        filter: EventFilter | None,
        search: str | None,
        sort: EventSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[EventView]: ...

    async def event(self, event_id: str) -> EventView | None: ...

    async def standards(
        self,
        filter: StandardFilter | None,
        search: str | None,
        sort: StandardSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page[StandardView]: ...

    async def standard(self, standard_id: str) -> StandardView | None: ...

    async def standard_by_code(self, code: str) -> StandardView | None: ...

    async def community_facets(
        self, filter: CommunityFilter | None, search: str | None, groups: frozenset[str]
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts per value of each stored field named in `groups` (and only those)."""
        ...

    async def event_facets(
        self, filter: EventFilter | None, search: str | None, groups: frozenset[str]
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts per value of each stored field named in `groups` (and only those)."""
        ...
