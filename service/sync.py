"""The sync engine: one run of one source, from fetch to durable checkpoint.

For each stream: read from the stored state, ingest listings in batches, keep
unusable records, and at every `Checkpoint` first make the batch before it
durable, then store the state (both journaled). A run killed at any point and
started again resumes from its last checkpoint; records read again after it are
recognised by (source, external id) and content hash, so nothing is duplicated.

A full run is a *pass* with an epoch: every listing it reads is marked with the
epoch, and only when every stream of the pass completed are the source's other
listings withdrawn. A failed or cancelled run withdraws nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId

from connectors.clusters import MemberHints
from connectors.contract import Checkpoint, Fetcher, Rejected, Stream
from connectors.errors import ConnectorError, FatalError
from connectors.registry import ConfigError, build_connector
from schema.models import Listing
from service.clusters import link_members
from service.db import SYNC_RUNS, Database
from service.ingest import Outcome, ingest, keep_unusable
from service.sources import SourceError, durable, get_source, save_stream_state, start_pass
from service.withdrawal import withdraw_unseen

BATCH_SIZE = 500
ERROR_SAMPLE = 20
# A running run beats at every batch and checkpoint; one silent for this long died
# with its process (until workers hold leases, see the issues on scaling out).
HEARTBEAT_TIMEOUT = timedelta(minutes=3)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Mode(StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"


@dataclass
class Counts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0


@dataclass
class Progress:
    """What a watcher sees while a run goes on."""

    run_id: str
    counts: Counts = field(default_factory=Counts)
    checkpoints: int = 0
    started: float = field(default_factory=time.monotonic)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.counts.fetched / elapsed if elapsed > 0 else 0.0

    def error(self, where: str, message: str) -> None:
        if len(self.errors) < ERROR_SAMPLE:
            self.errors.append({"where": where, "message": message[:500]})


Watcher = Callable[[Progress], None]


class _Run:
    def __init__(
        self,
        db: Database,
        source: dict[str, Any],
        run_id: ObjectId,
        progress: Progress,
        watch: Watcher,
    ) -> None:
        self.db = durable(db)
        self.source_id: str = source["_id"]
        self.run_id = run_id
        self.progress = progress
        self.watch = watch
        # External ids read in this run, kept only for streams that need them after
        # the run (cluster member hints): a 50,000-row registry need not hold them.
        self.seen: set[str] = set()
        self.track_seen = False

    async def stream(self, stream: Stream, state: dict[str, Any] | None, epoch: str | None) -> None:
        self.track_seen = isinstance(stream, MemberHints)
        self.seen = set()
        batch: list[Listing] = []
        unusable: list[Rejected] = []
        async for item in stream.records(state):
            if isinstance(item, Listing):
                batch.append(item)
                self.progress.counts.fetched += 1
                if len(batch) >= BATCH_SIZE:
                    await self.flush(batch, epoch)
                    batch = []
            elif isinstance(item, Rejected):
                unusable.append(item)
                self.progress.counts.rejected += 1
                self.progress.error(item.external_id or stream.name, item.reason)
            elif isinstance(item, Checkpoint):
                await self.flush(batch, epoch)
                batch = []
                await self.keep(stream, unusable)
                unusable = []
                await save_stream_state(
                    self.db, self.source_id, stream.name, item.state, complete=False
                )
                self.progress.checkpoints += 1
                await self.beat()
                self.watch(self.progress)
        await self.flush(batch, epoch)
        await self.keep(stream, unusable)
        if isinstance(stream, MemberHints):
            members = {ext: stream.members_of(ext) for ext in self.seen}
            await link_members(self.db, self.source_id, {k: v for k, v in members.items() if v})

    async def flush(self, batch: list[Listing], epoch: str | None) -> None:
        if not batch:
            return
        await self.beat()
        if self.track_seen:
            self.seen.update(listing.external_id for listing in batch)
        counts = self.progress.counts
        for result in await ingest(self.db, batch, seen_epoch=epoch):
            if result.outcome is Outcome.CREATED:
                counts.created += 1
            elif result.outcome is Outcome.UPDATED:
                counts.updated += 1
            elif result.outcome is Outcome.UNCHANGED:
                counts.unchanged += 1
            else:
                counts.rejected += 1
                reasons = "; ".join(f"{e.path}: {e.message}" for e in result.errors)
                self.progress.error(result.external_id, reasons)
        self.watch(self.progress)

    async def beat(self) -> None:
        """Progress for watchers, and the sign of life that keeps this run active."""
        await self.db[SYNC_RUNS].update_one(
            {"_id": self.run_id},
            {
                "$set": {
                    "heartbeat_at": datetime.now(UTC),
                    "counts": asdict(self.progress.counts),
                    "checkpoints": self.progress.checkpoints,
                }
            },
        )

    async def keep(self, stream: Stream, unusable: list[Rejected]) -> None:
        if unusable:
            records = [(r.external_id, r.reason, r.raw) for r in unusable]
            await keep_unusable(self.db, stream.entity, self.source_id, records)


async def create_run(db: Database, source_id: str, mode: Mode, trigger: str) -> ObjectId:
    now = datetime.now(UTC)
    result = await durable(db)[SYNC_RUNS].insert_one(
        {
            "source_id": source_id,
            "mode": mode.value,
            "trigger": trigger,
            "status": RunStatus.QUEUED.value,
            "created_at": now,
            "counts": asdict(Counts()),
        }
    )
    run_id: ObjectId = result.inserted_id
    return run_id


async def run_sync(
    db: Database,
    source_id: str,
    fetcher: Fetcher,
    *,
    mode: Mode = Mode.INCREMENTAL,
    trigger: str = "cli",
    watch: Watcher | None = None,
) -> dict[str, Any]:
    """Run one sync of `source_id` to its end; returns the finished run record."""
    source = await get_source(db, source_id)
    if not source.get("enabled", True):
        raise SourceError(f"source {source_id!r} is disabled")
    await _settle_earlier_runs(db, source_id)
    run_id = await create_run(db, source_id, mode, trigger)
    progress = Progress(run_id=str(run_id))
    runs = durable(db)[SYNC_RUNS]
    now = datetime.now(UTC)
    await runs.update_one(
        {"_id": run_id},
        {
            "$set": {
                "status": RunStatus.RUNNING.value,
                "started_at": now,
                "heartbeat_at": now,
                "owner": _owner(),
            }
        },
    )
    status = RunStatus.SUCCEEDED
    try:
        epoch = await _begin(db, source, mode)
        source = await get_source(db, source_id)
        connector = build_connector(source["kind"], source["config"], fetcher, source_id)
        run = _Run(db, source, run_id, progress, watch or (lambda _: None))
        for stream in connector.streams():
            stored = source["sync"]["streams"].get(stream.name) or {}
            state = stored.get("state") if stored else None
            await run.stream(stream, state, epoch)
            await _complete_stream(db, source_id, stream.name)
        if epoch is not None:
            progress.counts.withdrawn = await withdraw_unseen(durable(db), source_id, epoch)
            await start_pass(db, source_id, None, reset=False)
        if progress.counts.rejected:
            status = RunStatus.PARTIALLY_SUCCEEDED
    except (ConnectorError, ConfigError) as error:
        # Retriable errors have had their retries inside the fetcher: the run fails,
        # keeps its last checkpoint, and the next run resumes there.
        status = RunStatus.FAILED
        progress.error("run", f"{type(error).__name__}: {error}")
    except asyncio.CancelledError:
        status = RunStatus.CANCELLED
        raise
    finally:
        await runs.update_one(
            {"_id": run_id},
            {
                "$set": {
                    "status": status.value,
                    "finished_at": datetime.now(UTC),
                    "counts": asdict(progress.counts),
                    "checkpoints": progress.checkpoints,
                    "errors": progress.errors,
                }
            },
        )
    record = await runs.find_one({"_id": run_id})
    if record is None:
        raise FatalError(f"run {run_id} vanished while it was being written")
    return record


async def _settle_earlier_runs(db: Database, source_id: str) -> None:
    """Refuse to start beside a live run of the same source; close the dead ones."""
    runs = durable(db)[SYNC_RUNS]
    now = datetime.now(UTC)
    stale_before = now - HEARTBEAT_TIMEOUT
    running = await runs.find(
        {"source_id": source_id, "status": RunStatus.RUNNING.value},
        {"heartbeat_at": 1, "owner": 1},
    ).to_list()
    live = [r for r in running if _alive(r, stale_before)]
    if live:
        raise SourceError(f"a run of {source_id!r} is already active ({live[0]['_id']})")
    if running:
        await runs.update_many(
            {"_id": {"$in": [r["_id"] for r in running]}},
            {
                "$set": {"status": RunStatus.FAILED.value, "finished_at": now},
                "$push": {
                    "errors": {"where": "run", "message": "interrupted: its process stopped"}
                },
            },
        )


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(run: dict[str, Any], stale_before: datetime) -> bool:
    """A run on this host is alive while its process is; elsewhere, while it beats."""
    owner = run.get("owner") or {}
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's live process
        return True
    beat: datetime | None = run.get("heartbeat_at")
    return beat is not None and beat > stale_before


async def recent_runs(db: Database, source_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest runs first (of one source, or of all)."""
    selection = {"source_id": source_id} if source_id else {}
    cursor = db[SYNC_RUNS].find(selection).sort("created_at", -1).limit(max(1, min(limit, 500)))
    return await cursor.to_list()


async def _begin(db: Database, source: dict[str, Any], mode: Mode) -> str | None:
    """The pass this run belongs to: a resumed one, a new full one, or incremental (None)."""
    sync = source.get("sync") or {}
    unfinished = any(not s.get("complete") for s in sync.get("streams", {}).values())
    if sync.get("epoch") and unfinished:
        epoch: str = sync["epoch"]
        return epoch  # a full pass was interrupted: finish it first
    if mode is Mode.FULL:
        epoch = uuid.uuid4().hex
        await start_pass(db, source["_id"], epoch, reset=True)
        return epoch
    return None


async def _complete_stream(db: Database, source_id: str, stream: str) -> None:
    source = await get_source(db, source_id)
    stored = source["sync"]["streams"].get(stream) or {}
    await save_stream_state(db, source_id, stream, stored.get("state") or {}, complete=True)
