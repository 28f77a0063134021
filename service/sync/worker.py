"""Sync workers: queue due scheduled runs, claim runs with leases, execute them.

One worker runs inside each API process by default (`worker_enabled`), and any
number of `guildgraph worker` processes can be added when scaling out; they
coordinate only through MongoDB (see service/runs.py). On shutdown a worker
stops claiming, asks its run to stop at the next batch or checkpoint, gives it
back to the queue (another worker resumes it at once) and returns within the
configured bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import pymongo
from pymongo.errors import PyMongoError

from schema.documents import RunDoc
from service.read_model.barrier import ReadBarrier
from service.storage.collections import Database
from service.sync.engine import execute
from service.sync.fetch_policy import FetcherFactory
from service.sync.runs import Lease, claim_next, release, worker_name
from service.sync.schedules import enqueue_due

logger = logging.getLogger("guildgraph.worker")

# How long a stopping worker tries to give its run back to the queue.
RELEASE_S = 2.0


class WorkerHandle:
    """How request handlers reach this instance's worker (if it runs one)."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """A run was queued here: look now instead of at the next poll."""
        self._wake.set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()


class Worker:
    def __init__(
        self,
        db: Database,
        fetchers: FetcherFactory,
        *,
        handle: WorkerHandle | None = None,
        poll_s: float = 1.0,
        lease_ttl: timedelta = timedelta(seconds=30),
        name: str | None = None,
        barrier: ReadBarrier | None = None,
    ) -> None:
        self.db = db
        # The read model of the process the worker runs in, if it serves reads.
        self.barrier = barrier
        self.fetchers = fetchers
        self.handle = handle or WorkerHandle()
        self.poll_s = poll_s
        self.lease_ttl = lease_ttl
        self.name = name or worker_name()
        self.stopping = asyncio.Event()
        self.current: Lease | None = None
        self._task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[RunDoc] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name=f"worker {self.name}")

    async def run_forever(self) -> None:
        logger.info("worker %s started", self.name)
        while not self.stopping.is_set():
            try:
                await enqueue_due(self.db, datetime.now(UTC))
                if await self.run_one():
                    continue  # there may be more queued: look again at once
            except Exception:
                # The database was unreachable or a bug surfaced: log, wait, go on;
                # a worker that dies silently stops every sync of the instance.
                logger.exception("worker %s: tick failed", self.name)
            if not self.stopping.is_set():
                await self.handle.wait(self.poll_s)
        logger.info("worker %s stopped", self.name)

    async def run_one(self) -> bool:
        """Claim and execute one run; False when there was nothing to do."""
        claimed = await claim_next(self.db, self.name, self.lease_ttl)
        if claimed is None:
            return False
        lease, _ = claimed
        self.current = lease
        logger.info("worker %s runs %s of %s", self.name, lease.run_id, lease.source_id)
        try:
            async with self.fetchers() as fetcher:
                self._run_task = asyncio.create_task(
                    execute(
                        self.db,
                        lease,
                        fetcher,
                        ttl=self.lease_ttl,
                        stop=self.stopping,
                        barrier=self.barrier,
                    )
                )
                record = await self._run_task
            logger.info("run %s ended: %s", lease.run_id, record["status"])
        except asyncio.CancelledError:
            # Stopped before or while executing: the queue gets the run back now
            # rather than when the lease expires (releasing twice is harmless). A
            # database that does not answer gets RELEASE_S; then the lease expires.
            with contextlib.suppress(PyMongoError), pymongo.timeout(RELEASE_S):
                await asyncio.shield(release(self.db, lease, {}))
            raise
        finally:
            self.current = None
            self._run_task = None
        return True

    async def stop(self, timeout_s: float) -> None:
        """Stop claiming; let the current run reach a stopping point; return within
        `timeout_s`, also when the database is gone."""
        self.stopping.set()
        self.handle.notify()
        if self._task is None:
            return
        # The last part of the bound is for giving a cancelled run back.
        giving_back = min(RELEASE_S, timeout_s / 2)
        try:
            async with asyncio.timeout(timeout_s - giving_back):
                await asyncio.shield(self._task)
        except TimeoutError:
            # The run did not reach a batch or checkpoint in time: cancel it; it gives
            # its lease back on the way out and resumes elsewhere from its checkpoint.
            logger.warning(
                "worker %s: run did not stop in %.0f s; cancelling",
                self.name,
                timeout_s - giving_back,
            )
            if self._run_task is not None:
                self._run_task.cancel()
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=giving_back)
            if not done:
                logger.warning(
                    "worker %s: its run was not given back; the lease expires instead",
                    self.name,
                )
