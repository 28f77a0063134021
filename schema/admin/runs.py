"""Sync runs: the `SyncRun` type (also what `syncRunProgress` yields), its filter and
`SyncRunActive`, the problem that carries the active run.

The admin port takes and returns these, so this module declares no resolvers (it
imports no `Info`); the run history query and the trigger/cancel mutations are in
`schema.admin.sync`. Runs are not `Node`s: `node(id)` is public, runs are for admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import strawberry

from schema.admin.problems import AdminProblem
from schema.documents import RunCounts, RunDoc, RunProgress


@strawberry.enum(description="What a sync reads: changes since the last run, or everything")
class SyncMode(StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"


@strawberry.enum
class SyncStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.enum(description="Who started a run")
class SyncTrigger(StrEnum):
    CLI = "cli"
    API = "api"
    SCHEDULE = "schedule"
    DEMO = "demo"
    BENCH = "bench"


@strawberry.type(description="What a run did to the source's listings")
class SyncCounts:
    fetched: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    withdrawn: int
    warnings: int = strawberry.field(
        description="Values kept listings were stored without (see `listingWarnings`)"
    )
    skipped: int = strawberry.field(
        description="Records the source passed over on purpose (not events: a band, a "
        "page's WebPage node); `SyncRun.skipped` shows a sample"
    )


@strawberry.type(description="How far a run has got")
class SyncProgress:
    pages: int
    records: int = strawberry.field(description="Records read so far (= counts.fetched)")
    bytes: float = strawberry.field(description="Bytes read (a Float: may exceed 2^31)")
    records_per_s: float
    estimated_total: int | None = strawberry.field(
        description="Records the source says it has; null when it does not tell"
    )
    estimated_remaining: int | None = strawberry.field(
        description="Records still to read; null without an estimated total"
    )
    estimated_remaining_s: float | None = strawberry.field(
        description="Seconds still to go at the current rate; null when unknown"
    )


@strawberry.type(description="One error of a run (the run keeps a sample, not all)")
class SyncRunError:
    where: str
    message: str


@strawberry.type(description="One sync of one source: queued, running or finished")
class SyncRun:
    id: strawberry.ID
    source_id: str
    mode: SyncMode
    trigger: SyncTrigger
    status: SyncStatus
    active: bool = strawberry.field(description="Queued or running (one per source at most)")
    cancel_requested: bool
    attempts: int = strawberry.field(description="Times a worker claimed it (>1: taken over)")
    worker: str | None = strawberry.field(description="The worker holding it while it runs")
    created_at: datetime
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_s: float | None = strawberry.field(
        description="Seconds from start to finish; while running, so far; null before start"
    )
    counts: SyncCounts
    progress: SyncProgress
    errors: list[SyncRunError] = strawberry.field(description="A sample of the run's errors")
    note: str | None = strawberry.field(
        description="Why the run did otherwise than asked, e.g. a full pass after the "
        "source's configuration changed"
    )
    skipped: list[SyncRunError] = strawberry.field(
        description="A sample of the records passed over on purpose, and why"
    )

    @classmethod
    def from_doc(cls, doc: RunDoc, now: datetime | None = None) -> SyncRun:
        """A `sync_runs` document as the API shows it; `now` times a running run.

        A part the record lacks reads as zero or null."""
        status = SyncStatus(doc["status"])
        counts = _counts(doc.get("counts") or {})
        started: datetime | None = doc.get("started_at")
        finished: datetime | None = doc.get("finished_at")
        duration: float | None = None
        if started is not None:
            end = finished or (now or datetime.now(UTC))
            duration = max((end - started).total_seconds(), 0.0)
        lease = doc.get("lease")
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            source_id=doc["source_id"],
            mode=SyncMode(doc["mode"]),
            trigger=SyncTrigger(doc["trigger"]),
            status=status,
            active=bool(doc.get("active")),
            cancel_requested=bool(doc.get("cancel_requested")),
            attempts=int(doc.get("attempts") or 0),
            worker=lease.get("owner") if lease and status is SyncStatus.RUNNING else None,
            created_at=doc["created_at"],
            scheduled_for=doc.get("scheduled_for"),
            started_at=started,
            finished_at=finished,
            heartbeat_at=doc.get("heartbeat_at"),
            duration_s=duration,
            counts=counts,
            progress=_progress(doc.get("progress") or {}, counts, status),
            errors=[
                SyncRunError(where=str(e.get("where", "")), message=str(e.get("message", "")))
                for e in doc.get("errors") or []
            ],
            skipped=[
                SyncRunError(where=str(e.get("where", "")), message=str(e.get("message", "")))
                for e in doc.get("skipped") or []
            ],
            note=doc.get("note"),
        )


def _counts(stored: RunCounts) -> SyncCounts:
    return SyncCounts(
        fetched=int(stored.get("fetched") or 0),
        created=int(stored.get("created") or 0),
        updated=int(stored.get("updated") or 0),
        unchanged=int(stored.get("unchanged") or 0),
        rejected=int(stored.get("rejected") or 0),
        withdrawn=int(stored.get("withdrawn") or 0),
        warnings=int(stored.get("warnings") or 0),
        skipped=int(stored.get("skipped") or 0),
    )


def _progress(stored: RunProgress, counts: SyncCounts, status: SyncStatus) -> SyncProgress:
    rate = float(stored.get("records_per_s") or 0.0)
    total = stored.get("estimated_total")
    remaining = max(int(total) - counts.fetched, 0) if total is not None else None
    eta = None
    if remaining is not None and status is SyncStatus.RUNNING and rate > 0:
        eta = remaining / rate
    return SyncProgress(
        pages=int(stored.get("pages") or 0),
        records=counts.fetched,
        bytes=float(stored.get("bytes") or 0),
        records_per_s=rate,
        estimated_total=int(total) if total is not None else None,
        estimated_remaining=remaining,
        estimated_remaining_s=eta,
    )


@strawberry.input(description="Which runs to list; every given condition must hold")
class SyncRunFilter:
    sources: list[str] | None = strawberry.field(default=None, description="Source ids")
    statuses: list[SyncStatus] | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Created at or after"
    )
    to: datetime | None = strawberry.field(default=None, description="Created before")


@dataclass(frozen=True)
class RunSelection:
    """`SyncRunFilter` as plain values, for the service (no Strawberry types there)."""

    sources: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    @classmethod
    def of(cls, given: SyncRunFilter | None) -> RunSelection:
        if given is None:
            return cls()
        return cls(
            sources=tuple(given.sources) if given.sources is not None else None,
            statuses=tuple(s.value for s in given.statuses) if given.statuses is not None else None,
            created_from=given.from_,
            created_to=given.to,
        )


@strawberry.type(description="The source has a queued or running run already (one at a time)")
class SyncRunActive(AdminProblem):
    active_run: SyncRun
