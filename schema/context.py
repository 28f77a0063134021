"""The typed request context and the data-access contract resolvers rely on.

`service/` implements `DataAccess` per request (with DataLoaders, so nested
fields of many parents cost one query per field, not one per parent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import strawberry

from schema.enums import CommunitySort, EventSort, StandardKind, StandardRole, StandardSort
from schema.inputs import CommunityEventFilter, CommunityFilter, EventFilter, StandardFilter
from schema.relay import Doc, Page, PageRequest
from schema.taxonomy import Lang

if TYPE_CHECKING:
    # The write-side contracts live beside their GraphQL types (which import `Info`).
    from schema.admin import AdminOps
    from schema.live import LiveFeeds
    from schema.partner import PartnerWrites


class DataAccess(Protocol):
    """Reads the graph. Ids are raw entity ids (not global ids)."""

    async def communities(
        self,
        filter: CommunityFilter | None,
        search: str | None,
        sort: CommunitySort,
        page: PageRequest,
        with_total: bool,
    ) -> Page: ...

    async def community(self, community_id: str) -> Doc | None: ...

    async def communities_by_ids(self, community_ids: Sequence[str]) -> list[Doc | None]: ...

    async def community_by_slug(self, slug: str) -> Doc | None: ...

    async def community_events(
        self,
        community_id: str,
        filter: CommunityEventFilter | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page: ...

    async def community_standards(
        self,
        community_id: str,
        role: StandardRole,
        kinds: Sequence[StandardKind] | None,
        page: PageRequest,
        with_total: bool,
    ) -> Page: ...

    async def community_members(
        self, community_id: str, page: PageRequest, with_total: bool
    ) -> Page: ...

    async def events(
        self,
        filter: EventFilter | None,
        search: str | None,
        sort: EventSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page: ...

    async def event(self, event_id: str) -> Doc | None: ...

    async def standards(
        self,
        filter: StandardFilter | None,
        search: str | None,
        sort: StandardSort,
        page: PageRequest,
        with_total: bool,
    ) -> Page: ...

    async def standard(self, standard_id: str) -> Doc | None: ...

    async def standard_by_code(self, code: str) -> Doc | None: ...

    async def community_facets(
        self, filter: CommunityFilter | None, search: str | None
    ) -> dict[str, list[tuple[str, int]]]: ...

    async def event_facets(
        self, filter: EventFilter | None, search: str | None
    ) -> dict[str, list[tuple[str, int]]]: ...


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    PARTNER = "partner"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: anonymous, or the holder of an API key.

    A partner key belongs to exactly one source (`source_id`); every write it makes
    is filtered by that source in the database, not only checked in a resolver.
    """

    role: Role
    key_id: str | None = None
    source_id: str | None = None
    client: str = "-"


ANONYMOUS = Principal(Role.ANONYMOUS)


@dataclass
class Context:
    """One request's view: reads for everyone, writes bound to the caller."""

    data: DataAccess
    lang: Lang
    request_id: str
    now: datetime
    principal: Principal
    partner: PartnerWrites
    admin: AdminOps
    live: LiveFeeds
    # Set by the WebSocket transport from `connection_init` (where the key travels).
    connection_params: dict[str, object] | None = None


Info = strawberry.Info[Context, None]
