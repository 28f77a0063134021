"""The read model's change versions as this process last saw them, and since when an
answer made at older versions may be out of date.

The applier counts every change to an entity collection in the read model's metadata,
in the transaction that applies it (service.read_model.store.mark_changed). A poller
reads those counters every `POLL_S` (one small SQLite read) and remembers, for each
version it saw, the last poll that still saw it current. A change after a version was
committed after that poll began, so that moment is a lower bound on the change's
time: an answer made at that version is out of date for at most `now - since`
(`stale_since`), measured on this process's monotonic clock. Poll times are taken
before each read, which keeps the bound on the safe side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Mapping

from service.read_model import store

logger = logging.getLogger("guildgraph.cache")

POLL_S = 0.1
Clock = Callable[[], float]


class ChangeVersions:
    """Per entity collection: the current change count, and when older ones were last
    current. Polled by `run()`, or on demand with `poll()`."""

    def __init__(
        self,
        connection: Callable[[], sqlite3.Connection],
        horizon_s: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._connection = connection
        self._horizon_s = horizon_s  # how long older versions are remembered
        self._clock = clock
        self.current: dict[str, int] = {}
        self.polled_at = -math.inf  # nothing confirmed yet
        self._last_current: dict[str, dict[int, float]] = {c: {} for c in store.COLLECTIONS}
        self._task: asyncio.Task[None] | None = None

    def poll(self) -> None:
        """Read the counters once (raises ReadModelUnavailable or sqlite3 errors)."""
        started = self._clock()
        found = store.versions(self._connection())
        for collection, (version, _) in found.items():
            before = self.current.get(collection)
            if before is not None and before != version:
                # `before` was current until the last poll; the change came after it.
                self._last_current[collection][before] = self.polled_at
            self.current[collection] = version
        self.polled_at = started
        oldest = started - self._horizon_s
        for seen in self._last_current.values():
            for version in [v for v, at in seen.items() if at < oldest]:
                del seen[version]

    def snapshot(self, collections: frozenset[str]) -> dict[str, int]:
        """The current versions of `collections`: what an answer made now reflects at
        least (it reads the read model after this)."""
        return {c: self.current.get(c, -1) for c in collections}

    def stale_since(self, versions: Mapping[str, int]) -> float | None:
        """Since when an answer made at `versions` may be out of date (monotonic time);
        None when none of them changed as of the last poll (it is current up to that
        poll, `polled_at`); -inf when a change is too old to tell."""
        since: float | None = None
        for collection, version in versions.items():
            if self.current.get(collection) == version:
                continue
            seen = self._last_current[collection].get(version, -math.inf)
            since = seen if since is None else min(since, seen)
        return since

    async def run(self, poll_s: float = POLL_S) -> None:
        """Poll until cancelled; a missing or rebuilding read model is tried again."""
        while True:
            try:
                self.poll()
            except (store.ReadModelUnavailable, sqlite3.Error) as error:
                logger.debug("change versions not read: %s", error)
            await asyncio.sleep(poll_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="change versions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
