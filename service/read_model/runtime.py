"""The read model as one API process holds it: readers, the barrier, and, in the one
process of the host that holds the read model's file lock, the applier.

Every process tries for the lock now and then; whoever holds it applies the
change stream (service.read_model.applier). When it exits, another takes over.

A process is ready when the read model is caught up: its own applier says so, or, in
the others, the file does (the applier writes when it last was caught up, and clears it
when it starts, until it has caught up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from service.read_model.applier import CAUGHT_UP_AT, Applier
from service.read_model.barrier import ReadBarrier
from service.read_model.store import Readers, ReadModelUnavailable, get_meta
from service.storage.collections import Database
from service.storage.file_lock import FileLock

logger = logging.getLogger("guildgraph.read_model")

LEADER_RETRY_S = 1.0
# A reader trusts the file while its applier showed life this recently.
STALE_AFTER_S = 15.0


def read_model_path(data_dir: Path, database: str) -> Path:
    return data_dir / "read_model" / f"{database}.sqlite"


class ReadModel:
    def __init__(self, db: Database, path: Path, *, barrier_timeout_s: float) -> None:
        self.db = db
        self.path = path
        self.readers = Readers(path)
        self.barrier = ReadBarrier(db, self.readers, barrier_timeout_s)
        self.applier: Applier | None = None
        # Whoever holds this lock applies the change stream; the kernel releases it when
        # the holder exits, however it exits, and another process takes over.
        self._leadership = FileLock(path.with_name(path.name + ".lock"))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._lead(), name="read model")

    async def _lead(self) -> None:
        # A file lock has no event to wait on: try again now and then.
        while True:
            if self._leadership.try_acquire():
                break
            await asyncio.sleep(LEADER_RETRY_S)
        logger.info("this process applies the read model at %s", self.path)
        self.applier = Applier(self.db, self.path)
        await self.applier.run()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._leadership.release()
        self.readers.close()

    @property
    def applies(self) -> bool:
        return self.applier is not None

    def not_ready_reason(self) -> str | None:
        """None when reads are current; else why not (for /readyz)."""
        if self.applier is not None:
            return None if self.applier.caught_up.is_set() else "read model catching up"
        try:
            connection = self.readers.connection()
        except ReadModelUnavailable as why:
            return str(why)
        caught_up = get_meta(connection, CAUGHT_UP_AT)
        applied = get_meta(connection, "applied_at")
        if caught_up is None:
            return "read model catching up"
        if time.time() - max(float(caught_up), float(applied or 0)) > STALE_AFTER_S:
            return "read model applier silent"
        return None
