"""The admin port: `AdminOps`, everything an admin key may do, and `KindInfo`.

What it takes and returns besides documents lives in modules without `Info`:
inputs in `schema.inputs`, problems in `schema.admin.problems`, reports in
`schema.admin.reports`, runs in `schema.admin.runs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schema.admin.problems import (
    ApiKeyNotFound,
    InvalidAdminInput,
    MatchNotFound,
    SourceHasListings,
    SourceNotFound,
    SourceNotSyncable,
    SyncRunNotFound,
)
from schema.admin.reports import EntitiesMerged, EntitySplit, ReprocessReport, SourceDeleted
from schema.admin.reviews import MatchDecision, MatchReviewFilter, MatchReviewView
from schema.admin.runs import RunSelection, SyncMode, SyncRunActive
from schema.documents import (
    ApiKeyView,
    ListingWarningView,
    RejectedListingView,
    RunDoc,
    SourceView,
)
from schema.enums import ApiKeyRole, EntityType
from schema.inputs import SourceInput, SourceUpdate
from schema.relay import Page


@dataclass(frozen=True)
class KindInfo:
    """A connector kind as the service describes it (`connectorKinds` shows it)."""

    kind: str
    description: str
    config_schema: dict[str, object]
    # A source of this kind as registered (`createSource` input, `sources add` file).
    example: dict[str, object]


class AdminOps(Protocol):
    """Everything an admin key may do.

    Every method raises `AccessDenied` for any other caller, before it reads
    anything, whether or not the object exists. Documents come back as stored
    (`schema.documents`), except sources (`SourceView`: `config` with secrets masked,
    `next_run_at` added), rejected listings (without their applied payload) and keys
    (without their hash).
    Ids and paging arguments arrive as the client sent them, and are checked after
    the role: a malformed one is a `UserInputError`.
    """

    # Sources
    async def sources(self) -> list[SourceView]: ...

    async def source(self, source_id: str) -> SourceView | None: ...

    async def last_run(self, source_id: str) -> RunDoc | None: ...

    async def connector_kinds(self) -> list[KindInfo]: ...

    async def create_source(self, spec: SourceInput) -> SourceView | InvalidAdminInput: ...

    async def update_source(
        self, source_id: str, changes: SourceUpdate
    ) -> SourceView | InvalidAdminInput | SourceNotFound: ...

    async def set_source_enabled(
        self, source_id: str, enabled: bool
    ) -> SourceView | InvalidAdminInput | SourceNotFound: ...

    async def delete_source(
        self, source_id: str, withdraw_listings: bool
    ) -> SourceDeleted | SourceNotFound | SyncRunActive | SourceHasListings: ...

    # Runs
    async def sync_runs(
        self, selection: RunSelection, first: int | None, after: str | None, with_total: bool
    ) -> Page[RunDoc]: ...

    async def sync_run(self, run_id: str) -> RunDoc | None: ...

    async def trigger_sync(
        self, source_id: str, mode: SyncMode
    ) -> RunDoc | SourceNotFound | SourceNotSyncable | SyncRunActive: ...

    async def cancel_sync(self, run_id: str) -> RunDoc | SyncRunNotFound: ...

    # Rejected listings
    async def rejected_listings(
        self, source_id: str, first: int | None, after: str | None, with_total: bool
    ) -> Page[RejectedListingView]: ...

    async def reprocess_listings(
        self, source_id: str
    ) -> ReprocessReport | SourceNotFound | SyncRunActive: ...

    async def listing_warnings(
        self, source_id: str, first: int | None, after: str | None, with_total: bool
    ) -> Page[ListingWarningView]: ...

    # Duplicates: the review queue and people's decisions
    async def match_reviews(
        self, selection: MatchReviewFilter, first: int | None, after: str | None, with_total: bool
    ) -> Page[MatchReviewView]: ...

    async def matched_entity(self, entity_id: str) -> tuple[EntityType, dict[str, Any] | None]:
        """An entity as stored (without its match keys), by global id; its type."""
        ...

    async def resolve_match(
        self, decision_id: str, decision: MatchDecision
    ) -> MatchReviewView | MatchNotFound:
        """SAME merges the record's entity into the candidate (whose id survives);
        DIFFERENT keeps them apart through later syncs."""
        ...

    async def merge_entities(
        self, entity_ids: Sequence[str]
    ) -> EntitiesMerged | MatchNotFound | InvalidAdminInput:
        """Global ids of one type; the first survives, the others redirect to it."""
        ...

    async def split_entity(
        self, entity_id: str, listing_ids: Sequence[str]
    ) -> EntitySplit | MatchNotFound | InvalidAdminInput:
        """Move some (not all) of an entity's listings to a new entity."""
        ...

    # Keys
    async def api_keys(self) -> list[ApiKeyView]: ...

    async def create_api_key(
        self, role: ApiKeyRole, source_id: str | None, label: str
    ) -> tuple[str, ApiKeyView] | InvalidAdminInput:
        """The plain key (shown once) and the key's record."""
        ...

    async def revoke_api_key(self, key_id: str) -> ApiKeyView | ApiKeyNotFound: ...
