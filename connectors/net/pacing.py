"""How fast and how long a fetcher asks: per-host limits, time budgets, retry backoff."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from connectors.net.policy import FetchPolicy


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up; a reservation never spins."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token and return how long to wait before using it (0: now).

        Tokens may go below zero: each waiter queues behind the ones already reserved.
        """
        now = self._clock()
        elapsed = now - self._updated
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now
        self._tokens -= 1
        return max(0.0, -self._tokens / self._rate)


class HostGate:
    """Per-host concurrency and rate limits; one busy host never slows another."""

    def __init__(self, concurrency: int, rate: float | None) -> None:
        self._concurrency = concurrency
        self._rate = rate
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        if host not in self._semaphores:
            self._semaphores[host] = asyncio.Semaphore(self._concurrency)
        async with self._semaphores[host]:
            await self._pace(host)
            yield

    async def _pace(self, host: str) -> None:
        if self._rate is None:
            return
        if host not in self._buckets:
            self._buckets[host] = TokenBucket(self._rate, self._concurrency)
        wait = self._buckets[host].reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class TimeBudget:
    """The `total_timeout` of one attempt, spent only while waiting on the source.

    A stream's consumer may take its time between chunks; that time is not charged.
    """

    def __init__(self, seconds: float) -> None:
        self._left = seconds

    @asynccontextmanager
    async def charge(self) -> AsyncIterator[None]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._left):
                yield
        finally:
            self._left -= time.monotonic() - started

    async def next_chunk(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        async with self.charge():
            return await anext(chunks, None)


def wait_before_retry(
    policy: FetchPolicy, failed_attempts: int, retry_after: float | None
) -> float:
    """Full-jitter exponential backoff, but never less than the source's Retry-After."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (failed_attempts - 1))
    wait = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        wait = max(wait, min(retry_after, policy.retry_after_cap))
    return wait
