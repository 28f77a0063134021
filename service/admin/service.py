"""Admin operations: sources, runs, rejected listings, duplicates, keys. Every method
checks the role.

The check comes first in every method, before any read, and refuses everyone but
an admin with the same `AccessDenied` whatever the target: a denial never tells
whether a source, run or key exists. The work itself is in `admin_sources`,
`admin_runs`, `admin_listings` and `admin_matches`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from strawberry.dataloader import DataLoader

from schema.admin.problems import (
    AdminInputProblem,
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
from schema.errors import AccessDenied
from schema.inputs import SourceInput, SourceUpdate
from schema.ports.admin import KindInfo
from schema.principal import Principal, Role
from schema.relay import Page, PageRequest
from service.admin import listings as admin_listings
from service.admin import matches as admin_matches
from service.admin import runs as admin_runs
from service.admin import sources as admin_sources
from service.admin.warnings import warnings_page
from service.auth.keys import KeyRequestError, create_key, key_secret, list_keys, revoke_key
from service.matching.policy import MatchPolicy, load_policy, save_policy
from service.read_model.barrier import ReadBarrier
from service.settings import Settings
from service.storage import stored
from service.storage.collections import API_KEYS, SOURCES, Database
from service.sync.runs import active_run
from service.sync.worker import WorkerHandle

logger = logging.getLogger("guildgraph.admin")


class AdminService:
    def __init__(
        self,
        db: Database,
        principal: Principal,
        settings: Settings,
        worker: WorkerHandle,
        barrier: ReadBarrier | None = None,
    ) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
        self._worker = worker
        # Changes to entities return once this host's read model shows them.
        self._barrier = barrier
        self._last_runs: DataLoader[str, RunDoc | None] = DataLoader(self._load_last_runs)

    def _require_admin(self) -> None:
        if self._principal.role is not Role.ADMIN:
            raise AccessDenied

    def _audit(self, action: str, target: str) -> None:
        logger.info("admin key %s: %s %s", self._principal.key_id, action, target)

    def _now(self) -> datetime:
        return datetime.now(UTC)

    # Sources

    async def sources(self) -> list[SourceView]:
        self._require_admin()
        now = self._now()
        docs = await self._db[SOURCES].find({}).sort("_id", 1).to_list()
        return [admin_sources.view(doc, now) for doc in stored.source.all(docs)]

    async def source(self, source_id: str) -> SourceView | None:
        self._require_admin()
        doc = stored.source.one(await self._db[SOURCES].find_one({"_id": source_id}))
        return admin_sources.view(doc, self._now()) if doc is not None else None

    async def last_run(self, source_id: str) -> RunDoc | None:
        self._require_admin()
        return await self._last_runs.load(source_id)

    async def _load_last_runs(self, source_ids: list[str]) -> list[RunDoc | None]:
        return await admin_runs.last_runs(self._db, source_ids)

    async def connector_kinds(self) -> list[KindInfo]:
        self._require_admin()
        return admin_sources.connector_kinds()

    async def create_source(self, spec: SourceInput) -> SourceView | InvalidAdminInput:
        self._require_admin()
        result = await admin_sources.create(self._db, spec, self._settings)
        if isinstance(result, dict):
            self._audit("created source", spec.id)
            return admin_sources.view(result, self._now())
        return result

    async def update_source(
        self, source_id: str, changes: SourceUpdate
    ) -> SourceView | InvalidAdminInput | SourceNotFound:
        self._require_admin()
        result = await admin_sources.update(self._db, source_id, changes, self._settings)
        if isinstance(result, dict):
            self._audit("updated source", source_id)
            return admin_sources.view(result, self._now())
        return result

    async def set_source_enabled(
        self, source_id: str, enabled: bool
    ) -> SourceView | InvalidAdminInput | SourceNotFound:
        self._require_admin()
        result = await admin_sources.set_enabled(self._db, source_id, enabled)
        if isinstance(result, dict):
            self._audit("enabled" if enabled else "disabled", f"source {source_id}")
            return admin_sources.view(result, self._now())
        return result

    async def delete_source(
        self, source_id: str, withdraw_listings: bool
    ) -> SourceDeleted | SourceNotFound | SyncRunActive | SourceHasListings:
        self._require_admin()
        result = await admin_sources.delete(self._db, source_id, withdraw_listings)
        if isinstance(result, SourceDeleted):
            self._audit("deleted source", source_id)
            await self._shown()
        return result

    async def _shown(self) -> None:
        if self._barrier is not None:
            await self._barrier.wait()

    # Runs

    async def sync_runs(
        self, selection: RunSelection, first: int | None, after: str | None, with_total: bool
    ) -> Page[RunDoc]:
        self._require_admin()
        page = PageRequest.build(first, after)
        return await admin_runs.history(self._db, selection, page, with_total)

    async def sync_run(self, run_id: str) -> RunDoc | None:
        self._require_admin()
        return await admin_runs.get(self._db, run_id)

    async def trigger_sync(
        self, source_id: str, mode: SyncMode
    ) -> RunDoc | SourceNotFound | SourceNotSyncable | SyncRunActive:
        self._require_admin()
        result = await admin_runs.trigger(self._db, self._worker, source_id, mode)
        if isinstance(result, dict):
            self._audit(f"queued a {mode.value} run of", source_id)
        return result

    async def cancel_sync(self, run_id: str) -> RunDoc | SyncRunNotFound:
        self._require_admin()
        result = await admin_runs.cancel(self._db, run_id)
        if isinstance(result, dict):
            self._audit("asked to cancel run", run_id)
        return result

    # Rejected listings

    async def rejected_listings(
        self, source_id: str, first: int | None, after: str | None, with_total: bool
    ) -> Page[RejectedListingView]:
        self._require_admin()
        page = PageRequest.build(first, after)
        return await admin_listings.rejected_page(self._db, source_id, page, with_total)

    async def listing_warnings(
        self, source_id: str, first: int | None, after: str | None, with_total: bool
    ) -> Page[ListingWarningView]:
        self._require_admin()
        page = PageRequest.build(first, after)
        return await warnings_page(self._db, source_id, page, with_total)

    async def reprocess_listings(
        self, source_id: str
    ) -> ReprocessReport | SourceNotFound | SyncRunActive:
        self._require_admin()
        source = stored.source.one(await self._db[SOURCES].find_one({"_id": source_id}))
        if source is None:
            return SourceNotFound.of(source_id)
        running = await active_run(self._db, source_id)
        if running is not None:
            return admin_runs.run_active(source_id, running)
        self._audit("reprocessed the rejected listings of", source_id)
        report = await admin_listings.reprocess(self._db, source)
        await self._shown()
        return report

    # Duplicates

    async def match_reviews(
        self, selection: MatchReviewFilter, first: int | None, after: str | None, with_total: bool
    ) -> Page[MatchReviewView]:
        self._require_admin()
        page = PageRequest.build(first, after)
        return await admin_matches.review_page(self._db, selection, page, with_total)

    async def matched_entity(self, entity_id: str) -> tuple[EntityType, dict[str, Any] | None]:
        self._require_admin()
        return await admin_matches.matched_entity(self._db, entity_id)

    async def resolve_match(
        self, decision_id: str, decision: MatchDecision
    ) -> MatchReviewView | MatchNotFound:
        self._require_admin()
        done = await admin_matches.resolve_match(self._db, decision_id, decision, self._now())
        if not isinstance(done, MatchNotFound):
            self._audit(f"decided {decision.value}:", f"match {decision_id}")
            await self._shown()
        return done

    async def merge_entities(
        self, entity_ids: Sequence[str]
    ) -> EntitiesMerged | MatchNotFound | InvalidAdminInput:
        self._require_admin()
        done = await admin_matches.merge_entities(self._db, entity_ids, self._now())
        if isinstance(done, EntitiesMerged):
            self._audit(f"merged into {done.survivor_id}:", ", ".join(done.merged_ids))
            await self._shown()
        return done

    async def split_entity(
        self, entity_id: str, listing_ids: Sequence[str]
    ) -> EntitySplit | MatchNotFound | InvalidAdminInput:
        self._require_admin()
        done = await admin_matches.split_listings(self._db, entity_id, listing_ids, self._now())
        if isinstance(done, EntitySplit):
            self._audit(f"split {done.entity_id}: new", done.new_entity_id)
            await self._shown()
        return done

    async def match_policy(self) -> MatchPolicy:
        self._require_admin()
        return await load_policy(self._db)

    async def set_match_policy(self, values: dict[str, float]) -> MatchPolicy:
        self._require_admin()
        policy = await save_policy(self._db, **values)
        self._audit("set the match thresholds", str(asdict(policy)))
        return policy

    # Keys

    async def api_keys(self) -> list[ApiKeyView]:
        self._require_admin()
        return await list_keys(self._db)

    async def create_api_key(
        self, role: ApiKeyRole, source_id: str | None, label: str
    ) -> tuple[str, ApiKeyView] | InvalidAdminInput:
        self._require_admin()
        try:
            new = await create_key(
                self._db, key_secret(self._settings), Role(role.value), source_id, label
            )
        except KeyRequestError as error:
            field, _, message = str(error).partition(": ")
            field = "sourceId" if field == "source" else field
            return InvalidAdminInput.of([AdminInputProblem(field=field, message=message)])
        record = stored.api_key_view.one(
            await self._db[API_KEYS].find_one({"_id": new.key_id}, {"hash": 0})
        )
        if record is None:
            raise RuntimeError(f"key {new.key_id} vanished after it was created")
        self._audit(f"created {role.value} key", new.key_id)
        return new.key, record

    async def revoke_api_key(self, key_id: str) -> ApiKeyView | ApiKeyNotFound:
        self._require_admin()
        try:
            await revoke_key(self._db, key_id)
            self._audit("revoked key", key_id)
        except KeyRequestError:
            pass  # unknown, or revoked before: a repeated revocation changes nothing
        record = stored.api_key_view.one(
            await self._db[API_KEYS].find_one({"_id": key_id}, {"hash": 0})
        )
        if record is None:
            return ApiKeyNotFound(message=f"no key {key_id!r}", key_id=key_id)
        return record
