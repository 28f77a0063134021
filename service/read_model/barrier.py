"""Read-your-writes: a write returns once this host's read model shows it.

After its writes, a writer bumps its own counter in `read_barriers` (one small
journaled write). Change streams deliver changes in commit order, so when the
applier has applied that counter's change it has applied every write before it;
it records the counter in the read model's metadata in the same transaction. The
writer waits, with a bound, until it reads its counter back there. This works from
any process of the host, whichever one applies.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time

from service.read_model.applier import BARRIER_PREFIX
from service.read_model.store import Readers, ReadModelUnavailable, get_meta
from service.storage.collections import READ_BARRIERS, Database

logger = logging.getLogger("guildgraph.read_model")

POLL_S = 0.002


class ReadBarrier:
    def __init__(self, db: Database, readers: Readers, timeout_s: float) -> None:
        self._db = db
        self._readers = readers
        self._timeout_s = timeout_s
        self._name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._counter = itertools.count(1)
        self.timeouts = 0

    async def wait(self) -> bool:
        """Wait until the local read model shows every write made before this call.

        False when the bound passed first (the write stands; the read model shows it
        a little later).
        """
        n = next(self._counter)
        await self._db[READ_BARRIERS].update_one(
            {"_id": self._name}, {"$set": {"n": n, "at": time.time()}}, upsert=True
        )
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                seen = get_meta(self._readers.connection(), BARRIER_PREFIX + self._name)
            except ReadModelUnavailable:
                seen = None
            if seen is not None and int(seen) >= n:
                return True
            if time.monotonic() >= deadline:
                self.timeouts += 1
                logger.warning("read model did not show a write within %.1f s", self._timeout_s)
                return False
            await asyncio.sleep(POLL_S)
