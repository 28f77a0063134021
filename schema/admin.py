"""Admin queries and mutations: sources, runs, rejected listings, keys (issue 4).

The per-entity modules (`schema.sources`, `schema.runs`, `schema.rejected`,
`schema.keys`) hold the types and resolvers; this module composes them and
declares `AdminOps`, the service contract they call.
"""

from __future__ import annotations

from typing import Protocol

import strawberry

from schema.admin_problems import (
    ApiKeyNotFound,
    InvalidAdminInput,
    SourceHasListings,
    SourceNotFound,
    SourceNotSyncable,
    SyncRunNotFound,
)
from schema.keys import ApiKeyMutation, ApiKeyQuery, ApiKeyRole
from schema.rejected import RejectedListingMutation, RejectedListingQuery, ReprocessReport
from schema.relay import Doc, Page
from schema.runs import RunSelection, SyncMode, SyncRunActive, SyncRunMutation, SyncRunQuery
from schema.sources import (
    KindInfo,
    SourceDeleted,
    SourceInput,
    SourceMutation,
    SourceQuery,
    SourceUpdate,
)


class AdminOps(Protocol):
    """Everything an admin key may do.

    Every method raises `AccessDenied` for any other caller, before it reads
    anything, whether or not the object exists. Documents come back as stored,
    except sources: their `config` has secrets masked and `next_run_at` is added.
    Ids and paging arguments arrive as the client sent them, and are checked after
    the role: a malformed one is a `UserInputError`.
    """

    # Sources
    async def sources(self) -> list[Doc]: ...

    async def source(self, source_id: str) -> Doc | None: ...

    async def last_run(self, source_id: str) -> Doc | None: ...

    async def connector_kinds(self) -> list[KindInfo]: ...

    async def create_source(self, spec: SourceInput) -> Doc | InvalidAdminInput: ...

    async def update_source(
        self, source_id: str, changes: SourceUpdate
    ) -> Doc | InvalidAdminInput | SourceNotFound: ...

    async def set_source_enabled(
        self, source_id: str, enabled: bool
    ) -> Doc | InvalidAdminInput | SourceNotFound: ...

    async def delete_source(
        self, source_id: str, withdraw_listings: bool
    ) -> SourceDeleted | SourceNotFound | SyncRunActive | SourceHasListings: ...

    # Runs
    async def sync_runs(
        self, selection: RunSelection, first: int | None, after: str | None, with_total: bool
    ) -> Page: ...

    async def sync_run(self, run_id: str) -> Doc | None: ...

    async def trigger_sync(
        self, source_id: str, mode: SyncMode
    ) -> Doc | SourceNotFound | SourceNotSyncable | SyncRunActive: ...

    async def cancel_sync(self, run_id: str) -> Doc | SyncRunNotFound: ...

    # Rejected listings
    async def rejected_listings(
        self, source_id: str, first: int | None, after: str | None, with_total: bool
    ) -> Page: ...

    async def reprocess_listings(
        self, source_id: str
    ) -> ReprocessReport | SourceNotFound | SyncRunActive: ...

    # Keys
    async def api_keys(self) -> list[Doc]: ...

    async def create_api_key(
        self, role: ApiKeyRole, source_id: str | None, label: str
    ) -> tuple[str, Doc] | InvalidAdminInput:
        """The plain key (shown once) and the key's record."""
        ...

    async def revoke_api_key(self, key_id: str) -> Doc | ApiKeyNotFound: ...


@strawberry.type
class AdminQuery(SourceQuery, SyncRunQuery, RejectedListingQuery, ApiKeyQuery):
    pass


@strawberry.type
class AdminMutation(SourceMutation, SyncRunMutation, RejectedListingMutation, ApiKeyMutation):
    pass
