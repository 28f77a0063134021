"""The sync engine: one run of one source, from fetch to durable checkpoint.

For each stream: read from the stored state, ingest listings in batches, keep
unusable records, and at every `Checkpoint` first make the batch before it
durable, then store the state (every write is journaled). A run killed at any point and
started again resumes from its last checkpoint; records read again after it are
recognised by (source, external id) and content hash, so nothing is duplicated.

A full run is a *pass* with an epoch: every listing it reads is marked with the
epoch, and only when every stream of the pass completed are the source's other
listings withdrawn. A failed or cancelled run withdraws nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from connectors.cluster_registry import MemberHints
from connectors.framework.contract import (
    Checkpoint,
    Fetcher,
    FieldWarning,
    Rejected,
    Skipped,
    Stream,
)
from connectors.framework.errors import ConnectorError, FatalError
from connectors.registry import ConfigError, build_connector
from schema.documents import RunDoc, SourceDoc
from schema.models import Listing
from service.errors import ServiceError
from service.ingest import warnings
from service.ingest.memberships import link_members
from service.ingest.pipeline import Outcome, ingest, mark_seen
from service.ingest.rejected import keep_unusable
from service.ingest.withdrawal import withdraw_unseen
from service.read_model.barrier import ReadBarrier
from service.storage.collections import Database
from service.sync.fetch_meter import MeteredFetcher
from service.sync.fetch_policy import explained
from service.sync.progress import Progress
from service.sync.runs import (
    Counts,
    Lease,
    LeaseLost,
    Mode,
    RunActive,
    RunStatus,
    active_run,
    claim_run,
    finish,
    get_run,
    release,
    renew,
    start_run,
    worker_name,
)
from service.sync.sources import (
    PUSH,
    SourceError,
    config_fingerprint,
    get_source,
    save_stream_state,
    start_pass,
)

logger = logging.getLogger("guildgraph.sync")

BATCH_SIZE = 500


DEFAULT_LEASE_TTL = timedelta(seconds=30)


class RunCancelled(ServiceError):
    """An admin asked the run to stop; it stops at the next checkpoint."""


class Interrupted(ServiceError):
    """This worker is shutting down; the run goes back to the queue."""


Watcher = Callable[[Progress], None]


class _Run:
    """One execution of a run under a lease: every write of progress is fenced."""

    def __init__(
        self,
        db: Database,
        lease: Lease,
        progress: Progress,
        *,
        meter: MeteredFetcher,
        ttl: timedelta,
        watch: Watcher,
        stop: asyncio.Event,
        barrier: ReadBarrier | None,
    ) -> None:
        self.db = db
        self.lease = lease
        self.barrier = barrier
        self.source_id = lease.source_id
        self.progress = progress
        self.meter = meter
        self.ttl = ttl
        self.watch = watch
        self.stop = stop
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
            elif isinstance(item, Skipped):
                self.progress.skip(item.external_id or stream.name, item.reason)
            elif isinstance(item, FieldWarning):
                # Before its listing: stored with the batch that listing is in.
                warnings.record(
                    self.source_id, item.external_id, item.field, item.raw, item.message
                )
            elif isinstance(item, Checkpoint):
                if item.estimated_total is not None:
                    self.progress.estimated_total = item.estimated_total
                await self.flush(batch, epoch)
                batch = []
                await self.keep(stream, unusable, epoch)
                unusable = []
                await self.checkpoint(stream.name, item.state, complete=False)
                self.progress.checkpoints += 1
                await self.beat()
                self.watch(self.progress)
        await self.flush(batch, epoch)
        await self.keep(stream, unusable, epoch)
        if isinstance(stream, MemberHints):
            # Every cluster read, even one now without members: its old links may go.
            members = {ext: stream.members_of(ext) for ext in self.seen}
            await link_members(self.db, self.source_id, members)

    async def checkpoint(self, stream: str, state: dict[str, Any], *, complete: bool) -> None:
        saved = await save_stream_state(
            self.db, self.source_id, stream, state, complete=complete, fence=self.lease.fence
        )
        if not saved:
            raise LeaseLost(f"source {self.source_id!r} is fenced by a newer run holder")

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
        keys = [listing.external_id for listing in batch]
        noted = warnings.take(self.source_id, keys)
        counts.warnings += len(noted)
        await warnings.store(self.db, self.source_id, keys, noted)
        await self.shown()
        self.watch(self.progress)

    async def shown(self) -> None:
        """Read-your-writes: when this process serves reads, a batch counts as written
        once its read model shows it (which also keeps the read model from lagging)."""
        if self.barrier is not None:
            await self.barrier.wait()

    async def beat(self) -> None:
        """Renew the lease with the progress so far; stop here if asked to.

        Called before every batch and after every checkpoint, so a cancelled or
        interrupted run stops having written nothing past its last checkpoint's batch.
        """
        self.progress.pages, self.progress.bytes = self.meter.pages, self.meter.bytes
        cancel = await renew(self.db, self.lease, self.ttl, self.progress.fields())
        if cancel:
            raise RunCancelled
        if self.stop.is_set():
            raise Interrupted

    async def keep(self, stream: Stream, unusable: list[Rejected], epoch: str | None) -> None:
        if unusable:
            for entity in {r.entity or stream.entity for r in unusable}:
                records = [
                    (r.external_id, r.reason, r.raw)
                    for r in unusable
                    if (r.entity or stream.entity) is entity
                ]
                await keep_unusable(self.db, entity, self.source_id, records)
            if epoch is not None:
                # The source still has these records: a pass keeps their last good
                # version, as it does for a record ingestion refuses.
                keys = [(self.source_id, r.external_id[:200]) for r in unusable if r.external_id]
                await mark_seen(self.db, keys, epoch)


async def execute(
    db: Database,
    lease: Lease,
    fetcher: Fetcher,
    *,
    ttl: timedelta = DEFAULT_LEASE_TTL,
    watch: Watcher | None = None,
    stop: asyncio.Event | None = None,
    barrier: ReadBarrier | None = None,
) -> RunDoc:
    """Execute a claimed run to its end (or until cancelled, interrupted or fenced out).

    Returns the run record as it is afterwards. An interrupted run (`stop` set, or
    this task cancelled) goes back to the queue and the next worker resumes it from
    the last checkpoint; a run whose lease was lost returns without writing more.
    """
    run = await get_run(db, lease.run_id)
    if run is None:
        raise FatalError(f"run {lease.run_id} vanished")
    meter = MeteredFetcher(fetcher)
    progress = Progress(str(lease.run_id), counts=Counts(**run.get("counts") or {}))
    job = _Run(
        db,
        lease,
        progress,
        meter=meter,
        ttl=ttl,
        watch=watch or (lambda _: None),
        stop=stop or asyncio.Event(),
        barrier=barrier,
    )
    keeper = asyncio.create_task(_keep_lease(db, lease, ttl, progress, meter))
    status = RunStatus.SUCCEEDED
    try:
        with warnings.collecting():
            await _work(db, job, Mode(run["mode"]))
        if progress.counts.rejected:
            status = RunStatus.PARTIALLY_SUCCEEDED
    except (ConnectorError, ConfigError, SourceError) as error:
        # Retriable errors have had their retries inside the fetcher: the run fails,
        # keeps its last checkpoint, and the next run resumes there.
        status = RunStatus.FAILED
        progress.error("run", f"{type(error).__name__}: {explained(error)}")
    except RunCancelled:
        status = RunStatus.CANCELLED
    except Interrupted:
        await release(db, lease, progress.fields())
        return await _record(db, lease)
    except LeaseLost:
        logger.warning("run %s: lease lost to another worker; stopping", lease.run_id)
        return await _record(db, lease)
    except asyncio.CancelledError:
        with contextlib.suppress(LeaseLost):
            await asyncio.shield(release(db, lease, progress.fields()))
        raise
    except Exception as error:
        # A bug must not leave the run to be retried by every worker in turn: it
        # fails here, visibly, with the traceback in the log.
        logger.exception("run %s failed unexpectedly", lease.run_id)
        status = RunStatus.FAILED
        progress.error("run", f"internal error ({type(error).__name__})")
    finally:
        keeper.cancel()
    progress.pages, progress.bytes = meter.pages, meter.bytes
    with contextlib.suppress(LeaseLost):
        await finish(db, lease, status, progress.fields())
    return await _record(db, lease)


async def _work(db: Database, job: _Run, mode: Mode) -> None:
    source = await get_source(db, job.source_id)
    if source.get("kind") == PUSH:
        raise SourceError(f"source {job.source_id!r} is a partner source: nothing to fetch")
    epoch = await _begin(db, source, mode, job.lease.fence, job.progress)
    source = await get_source(db, job.source_id)
    connector = build_connector(source["kind"], job.source_id, source["config"], job.meter)
    for stream in connector.streams():
        saved = source["sync"]["streams"].get(stream.name)
        await job.stream(stream, saved.get("state") if saved else None, epoch)
        latest = (await get_source(db, job.source_id))["sync"]["streams"].get(stream.name)
        state = (latest.get("state") if latest else None) or {}
        await job.checkpoint(stream.name, state, complete=True)
    if epoch is not None:
        await job.beat()  # the last chance to be told to stop before withdrawing
        job.progress.counts.withdrawn = await withdraw_unseen(job.db, job.source_id, epoch)
        await job.shown()
        await start_pass(db, job.source_id, None, reset=False, fence=job.lease.fence)


async def _keep_lease(
    db: Database, lease: Lease, ttl: timedelta, progress: Progress, meter: MeteredFetcher
) -> None:
    """Renew the lease while a long fetch keeps the run from reaching a batch."""
    while True:
        await asyncio.sleep(ttl.total_seconds() / 3)
        progress.pages, progress.bytes = meter.pages, meter.bytes
        try:
            await renew(db, lease, ttl, progress.fields())
        except LeaseLost:
            return  # the run's own next write will find out and stop


async def _record(db: Database, lease: Lease) -> RunDoc:
    record = await get_run(db, lease.run_id)
    if record is None:
        raise FatalError(f"run {lease.run_id} vanished while it was being written")
    return record


async def run_sync(
    db: Database,
    source_id: str,
    fetcher: Fetcher,
    *,
    mode: Mode = Mode.INCREMENTAL,
    trigger: str = "cli",
    watch: Watcher | None = None,
    ttl: timedelta = DEFAULT_LEASE_TTL,
) -> RunDoc:
    """Run one sync of `source_id` here, now, to its end; returns the run record.

    When the source already has an active run that nobody is working on (queued,
    its lease expired, or its process on this host is gone), this resumes that run.
    """
    owner = worker_name()
    try:
        lease, _ = await start_run(db, source_id, mode, trigger, owner, ttl)
    except RunActive:
        active = await active_run(db, source_id)
        claimed = None
        if active is not None:
            held = active.get("lease")
            holder = held.get("owner") if held else None
            dead = holder if isinstance(holder, str) and _died_here(holder) else None
            claimed = await claim_run(db, active["_id"], owner, ttl, dead_owner=dead)
        if claimed is None:
            raise
        lease = claimed[0]
        logger.info("resuming run %s of %s", lease.run_id, source_id)
    return await execute(db, lease, fetcher, ttl=ttl, watch=watch)


def _died_here(owner: str) -> bool:
    """Whether a lease owner ("host:pid:tag") was a process on this host that is gone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # another worker of this process: it lives
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    return False


CONFIG_CHANGED = "full pass: the source's configuration changed since its last run"


async def _begin(
    db: Database, source: SourceDoc, mode: Mode, fence: int, progress: Progress
) -> str | None:
    """The pass this run belongs to: a resumed one, a new full one, or incremental (None).

    A configuration other than the one the stream states were made with (a mapping
    fixed, a URL moved) makes a new full pass whatever was asked: those states (a
    conditional GET's validators, a cursor) would skip records the new configuration
    reads differently. The run's record says so (`mode`, `note`).
    """
    sync = source.get("sync")
    streams = sync.get("streams", {}) if sync else {}
    unfinished = any(not s.get("complete") for s in streams.values())
    resumed = sync.get("epoch") if sync else None
    fingerprint = config_fingerprint(source)
    known = sync.get("config_hash") if sync else None
    if known is not None and known != fingerprint:
        if mode is not Mode.FULL or resumed:
            progress.note = CONFIG_CHANGED
        progress.mode = Mode.FULL.value
        mode = Mode.FULL
    elif resumed and unfinished:
        return resumed  # a full pass was interrupted: finish it first
    if mode is Mode.FULL:
        epoch = uuid.uuid4().hex
        started = await start_pass(
            db, source["_id"], epoch, reset=True, fence=fence, config_hash=fingerprint
        )
        if not started:
            raise LeaseLost(f"source {source['_id']!r} is fenced by a newer run holder")
        return epoch
    if known is None:  # sources saved before fingerprints: this one counts from now
        await start_pass(db, source["_id"], None, reset=False, fence=fence, config_hash=fingerprint)
    return None
