"""At most a few public reads execute at once in a process; the rest wait their turn.

A public read runs on the event loop in long synchronous stretches (SQLite queries,
then graphql-core building the answer), with a few awaits between them. Every await of
everything else in the process (a partner's ingestion waiting for MongoDB, the read
model's applier, the rate-limit flush) waits behind every read that is ready to run:
with 8 showcase readers per process, a batch of 100 listings took 10 s, each of its
round trips queued behind 8 reads. Reads gain nothing from running side by side
(they are CPU work on one thread), so letting only a few in at a time costs them
nothing in throughput, and bounds how long anything else waits for the loop.
Writes, admin and partner requests never wait here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class ReadGateStats:
    """What /metrics shows of the gate (updated on the event loop's thread)."""

    limit: int = 0
    executing: int = 0
    peak: int = 0  # the most that ever executed at once
    waited: int = 0  # reads that found every slot taken

    def render(self) -> list[str]:
        rows = (
            ("executing", "gauge", "Public reads executing now.", self.executing),
            ("limit", "gauge", "GUILDGRAPH_PUBLIC_READ_CONCURRENCY.", self.limit),
            ("waited_total", "counter", "Public reads that waited for a slot.", self.waited),
        )
        lines: list[str] = []
        for name, kind, text, value in rows:
            metric = f"guildgraph_public_reads_{name}"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}", f"{metric} {value}"]
        return lines


class ReadGate:
    def __init__(self, limit: int, stats: ReadGateStats) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._stats = stats
        stats.limit = limit

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked():
            self._stats.waited += 1
        async with self._slots:
            self._stats.executing += 1
            self._stats.peak = max(self._stats.peak, self._stats.executing)
            try:
                yield
            finally:
                self._stats.executing -= 1
