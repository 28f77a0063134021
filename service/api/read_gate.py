"""At most a few public reads execute at once in a process, none begins while a write
does; the rest wait their turn.

A public read runs on the event loop in long synchronous stretches (SQLite queries,
then graphql-core building the answer), with a few awaits between them. Every await of
everything else in the process (a partner's ingestion waiting for MongoDB, the read
model's applier, the rate-limit flush) waits behind every read that is ready to run:
with 8 showcase readers per process, a batch of 100 listings took 10 s, each of its
round trips queued behind 8 reads. Reads gain nothing from running side by side
(they are CPU work on one thread), so letting only a few in at a time costs them
nothing in throughput, and bounds how long anything else waits for the loop.

Writes go first: a partner's batch makes some twenty round trips, and behind even two
reads each one waited a read's stretch (a batch of 100 took 1.2 s under 16 readers,
0.3 s without them). While a request with a key (partner, admin) executes, no public
read begins in this process; those already executing finish. A read never waits for
writes longer than WRITES_FIRST_MAX_WAIT_S, so a stream of writes slows reads down
but cannot stop them. Requests with a key never wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

# The longest a public read waits for writes (not for other reads) before it begins.
WRITES_FIRST_MAX_WAIT_S = 0.5


@dataclass
class ReadGateStats:
    """What /metrics shows of the gate (updated on the event loop's thread)."""

    limit: int = 0
    executing: int = 0
    peak: int = 0  # the most that ever executed at once
    waited: int = 0  # reads that found every slot taken, or a write executing
    held_for_writes: int = 0  # reads that found a write executing

    def render(self) -> list[str]:
        rows = (
            ("executing", "gauge", "Public reads executing now.", self.executing),
            ("limit", "gauge", "GUILDGRAPH_PUBLIC_READ_CONCURRENCY.", self.limit),
            ("waited_total", "counter", "Public reads that waited for a slot.", self.waited),
            (
                "held_for_writes_total",
                "counter",
                "Public reads that waited because a write was executing.",
                self.held_for_writes,
            ),
        )
        lines: list[str] = []
        for name, kind, text, value in rows:
            metric = f"guildgraph_public_reads_{name}"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}", f"{metric} {value}"]
        return lines


class ReadGate:
    def __init__(self, limit: int, stats: ReadGateStats) -> None:
        self._limit = limit
        self._executing = 0
        self._writes = 0
        # Woken (all of them) whenever a read or a write ends; each checks again.
        self._waiters: list[asyncio.Future[None]] = []
        self._stats = stats
        stats.limit = limit

    def _slot_free(self) -> bool:
        return self._executing < self._limit

    def _may_begin(self) -> bool:
        return self._slot_free() and self._writes == 0

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A public read's turn."""
        if not self._may_begin():
            self._stats.waited += 1
            if self._writes:
                self._stats.held_for_writes += 1
            # Writes first, but not for ever: after the bound only a free slot counts.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WRITES_FIRST_MAX_WAIT_S):
                    await self._until(self._may_begin)
            await self._until(self._slot_free)
        self._executing += 1
        self._stats.executing = self._executing
        self._stats.peak = max(self._stats.peak, self._executing)
        try:
            yield
        finally:
            self._executing -= 1
            self._stats.executing = self._executing
            self._wake()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """A request with a key: public reads do not begin until it is done."""
        self._writes += 1
        try:
            yield
        finally:
            self._writes -= 1
            self._wake()
