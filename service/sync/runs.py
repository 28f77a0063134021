"""Sync runs as a queue in MongoDB: enqueue, claim with a lease, renew, finish.

A run is `active` from the moment it is queued until it ends; a partial unique
index allows one active run per source, so two triggers, two schedulers or a
trigger and the CLI can never run one source twice at once.

A worker claims a run with a lease (owner, expiry, fencing token) and renews it
while it works. When its worker dies, the lease expires and another worker takes
the run over and resumes from the last checkpoint. The fencing token comes from
a per-source counter bumped at every claim; the source's checkpoints and the
run's record are written only under the current token, so a stale worker that
wakes up late has its writes refused (`LeaseLost`) instead of undoing progress.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from schema.admin.runs import SyncMode, SyncStatus
from schema.documents import NewRunDoc, RunCounts, RunDoc
from service.errors import ServiceError
from service.storage import stored
from service.storage.collections import SOURCES, SYNC_RUNS, Database
from service.sync.sources import PUSH, SourceError, get_source

# The run vocabulary is the API's (schema.admin.runs), so the two cannot drift apart.
RunStatus = SyncStatus
Mode = SyncMode

TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
)


class RunActive(SourceError):
    """The source already has a queued or running run."""


class LeaseLost(ServiceError):
    """Another worker holds this run now: stop without writing anything more."""


@dataclass
class Counts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0
    # Values kept listings were stored without (service.ingest.warnings).
    warnings: int = 0
    # Records the source passed over on purpose (connectors' `Skipped`): not events.
    skipped: int = 0

    def document(self) -> RunCounts:
        return {
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "withdrawn": self.withdrawn,
            "warnings": self.warnings,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Lease:
    run_id: ObjectId
    source_id: str
    owner: str
    fence: int


def worker_name() -> str:
    """Unique per worker; host and pid let a same-host restart see a dead owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _NewRun:
    source_id: str
    mode: Mode
    trigger: str
    scheduled_for: datetime | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def document(self, priority: int) -> NewRunDoc:
        doc: NewRunDoc = {
            "source_id": self.source_id,
            "mode": self.mode.value,
            "trigger": self.trigger,
            "status": RunStatus.QUEUED.value,
            "active": True,
            "created_at": self.created_at,
            "counts": Counts().document(),
            "progress": {"pages": 0, "bytes": 0, "records_per_s": 0.0, "estimated_total": None},
            "errors": [],
            "cancel_requested": False,
            # Workers take queued runs of higher-priority sources first.
            "priority": priority,
        }
        if self.scheduled_for is not None:
            doc["scheduled_for"] = self.scheduled_for
        return doc


async def enqueue_run(
    db: Database,
    source_id: str,
    mode: Mode,
    trigger: str,
    *,
    scheduled_for: datetime | None = None,
) -> RunDoc:
    """Queue a run of an enabled, syncable source; `RunActive` when one is active."""
    return await _insert_run(db, _NewRun(source_id, mode, trigger, scheduled_for))


async def start_run(
    db: Database, source_id: str, mode: Mode, trigger: str, owner: str, ttl: timedelta
) -> tuple[Lease, RunDoc]:
    """Create a run already held by `owner` (the CLI runs it in its own process)."""
    run = await _insert_run(db, _NewRun(source_id, mode, trigger), owner=owner, ttl=ttl)
    claimed = await _fence(db, run, owner)
    if claimed is None:
        raise LeaseLost(f"run {run['_id']} was taken before it started")
    return claimed


async def _insert_run(
    db: Database, new: _NewRun, *, owner: str | None = None, ttl: timedelta | None = None
) -> RunDoc:
    source_id, scheduled_for = new.source_id, new.scheduled_for
    source = await get_source(db, source_id)
    if source.get("kind") == PUSH:
        raise SourceError(f"source {source_id!r} is a partner source: partners push, no sync")
    if not source.get("enabled", True):
        raise SourceError(f"source {source_id!r} is disabled")
    document = new.document(int(source.get("priority", 100)))
    if owner is not None and ttl is not None:
        document["status"] = RunStatus.RUNNING.value
        document["started_at"] = new.created_at
        document["heartbeat_at"] = new.created_at
        document["lease"] = {"owner": owner, "expires_at": new.created_at + ttl, "fence": None}
        document["attempts"] = 1
    try:
        result = await db[SYNC_RUNS].insert_one(stored.to_insert(document))
    except DuplicateKeyError as error:
        active = await active_run(db, source_id)
        if active is None and scheduled_for is not None:
            raise  # this due time already has its run
        which = f" ({active['_id']})" if active else ""
        raise RunActive(f"a run of {source_id!r} is already queued or running{which}") from error
    # The stored run (`insert_one` has added the same `_id` to `document` already).
    return {**document, "_id": result.inserted_id}


async def active_run(db: Database, source_id: str) -> RunDoc | None:
    return stored.run.one(await db[SYNC_RUNS].find_one({"source_id": source_id, "active": True}))


async def get_run(db: Database, run_id: ObjectId) -> RunDoc | None:
    return stored.run.one(await db[SYNC_RUNS].find_one({"_id": run_id}))


async def request_cancel(db: Database, run_id: ObjectId) -> RunDoc | None:
    """Cancel a run: a queued one at once, a running one at its next checkpoint.

    Returns the run as it is afterwards (None when there is no such run); a run
    that has already ended is returned unchanged.
    """
    runs = db[SYNC_RUNS]
    now = datetime.now(UTC)
    cancelled = await runs.find_one_and_update(
        {"_id": run_id, "status": RunStatus.QUEUED.value},
        {
            "$set": {"status": RunStatus.CANCELLED.value, "finished_at": now},
            "$unset": {"active": ""},
        },
        return_document=ReturnDocument.AFTER,
    )
    if cancelled is not None:
        return stored.run(cancelled)
    requested = await runs.find_one_and_update(
        {"_id": run_id, "status": RunStatus.RUNNING.value},
        {"$set": {"cancel_requested": True}},
        return_document=ReturnDocument.AFTER,
    )
    return stored.run.one(requested) or await get_run(db, run_id)


async def claim_next(db: Database, owner: str, ttl: timedelta) -> tuple[Lease, RunDoc] | None:
    """Take a queued run (of the highest source priority, then the oldest), or a
    running one whose lease has expired."""
    now = datetime.now(UTC)
    for selection in (
        {"status": RunStatus.QUEUED.value},
        {"status": RunStatus.RUNNING.value, "lease.expires_at": {"$lt": now}},
    ):
        claimed = await _claim(db, selection, owner, ttl, now)
        if claimed is not None:
            return claimed
    return None


async def claim_run(
    db: Database, run_id: ObjectId, owner: str, ttl: timedelta, *, dead_owner: str | None = None
) -> tuple[Lease, RunDoc] | None:
    """Take one run: queued, expired, or held by `dead_owner` (known to have died)."""
    now = datetime.now(UTC)
    takeable: list[dict[str, Any]] = [
        {"status": RunStatus.QUEUED.value},
        {"status": RunStatus.RUNNING.value, "lease.expires_at": {"$lt": now}},
    ]
    if dead_owner is not None:
        takeable.append({"status": RunStatus.RUNNING.value, "lease.owner": dead_owner})
    for selection in takeable:
        claimed = await _claim(db, {"_id": run_id, **selection}, owner, ttl, now)
        if claimed is not None:
            return claimed
    return None


async def _claim(
    db: Database, selection: dict[str, Any], owner: str, ttl: timedelta, now: datetime
) -> tuple[Lease, RunDoc] | None:
    runs = db[SYNC_RUNS]
    run = await runs.find_one_and_update(
        selection,
        {
            "$set": {
                "status": RunStatus.RUNNING.value,
                "lease": {"owner": owner, "expires_at": now + ttl, "fence": None},
                "heartbeat_at": now,
            },
            "$min": {"started_at": now},
            "$inc": {"attempts": 1},
        },
        sort=[("priority", -1), ("created_at", 1)],
        return_document=ReturnDocument.AFTER,
    )
    if run is None:
        return None
    return await _fence(db, stored.run(run), owner)


async def _fence(db: Database, run: RunDoc, owner: str) -> tuple[Lease, RunDoc] | None:
    # Bump the source's fence only once the run is ours: bumping first could fence
    # out a worker that still holds a valid lease on it.
    runs = db[SYNC_RUNS]
    source = await db[SOURCES].find_one_and_update(
        {"_id": run["source_id"]},
        {"$inc": {"sync.fence": 1}},
        projection={"sync.fence": 1},
        return_document=ReturnDocument.AFTER,
    )
    if source is None:
        await finish(
            db,
            Lease(run["_id"], run["source_id"], owner, 0),
            RunStatus.FAILED,
            {"errors": [{"where": "run", "message": "its source was deleted"}]},
            fenced=False,
        )
        return None
    fence = int(source["sync"]["fence"])
    updated = await runs.find_one_and_update(
        {"_id": run["_id"], "lease.owner": owner},
        {"$set": {"lease.fence": fence}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        return None  # our lease expired already and someone else took it
    return Lease(run["_id"], run["source_id"], owner, fence), stored.run(updated)


async def renew(
    db: Database, lease: Lease, ttl: timedelta, extra: dict[str, Any] | None = None
) -> bool:
    """Extend the lease (and write `extra` fields); returns whether cancel was requested.

    Raises `LeaseLost` when another worker has taken the run.
    """
    now = datetime.now(UTC)
    run = await db[SYNC_RUNS].find_one_and_update(
        _held(lease),
        {"$set": {"lease.expires_at": now + ttl, "heartbeat_at": now, **(extra or {})}},
        projection={"cancel_requested": 1},
    )
    if run is None:
        raise LeaseLost(f"run {lease.run_id} is no longer held by {lease.owner}")
    return bool(run.get("cancel_requested"))


async def finish(
    db: Database,
    lease: Lease,
    status: RunStatus,
    fields: dict[str, Any],
    *,
    fenced: bool = True,
) -> None:
    """End the run: its final status and counts; it stops being the source's active run."""
    selection = _held(lease) if fenced else {"_id": lease.run_id}
    result = await db[SYNC_RUNS].update_one(
        selection,
        {
            "$set": {"status": status.value, "finished_at": datetime.now(UTC), **fields},
            "$unset": {"active": "", "lease": ""},
        },
    )
    if result.matched_count == 0:
        raise LeaseLost(f"run {lease.run_id} is no longer held by {lease.owner}")


async def release(db: Database, lease: Lease, fields: dict[str, Any]) -> None:
    """Give the run back to the queue (shutdown): the next worker resumes it at once."""
    await db[SYNC_RUNS].update_one(
        _held(lease),
        {"$set": {"status": RunStatus.QUEUED.value, **fields}, "$unset": {"lease": ""}},
    )


def _held(lease: Lease) -> dict[str, Any]:
    return {"_id": lease.run_id, "lease.owner": lease.owner, "lease.fence": lease.fence}


async def recent_runs(db: Database, source_id: str | None, limit: int) -> list[RunDoc]:
    """The newest runs first (of one source, or of all)."""
    selection = {"source_id": source_id} if source_id else {}
    cursor = db[SYNC_RUNS].find(selection).sort("created_at", -1).limit(max(1, min(limit, 500)))
    return stored.run.all(await cursor.to_list())
