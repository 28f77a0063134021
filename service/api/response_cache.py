"""The response cache: anonymous query answers kept in memory, shared by every request
of the process, bounded in bytes (least recently used out first).

An answer is keyed by everything that changes it (`cache_key`): the document's hash,
the operation, the variables, the language and the media type. With it are kept the
change versions of the entity collections its document reads (cache_policy), taken
before it was made. When one of them has changed, the answer may still be served
while it is out of date for less than `max_stale_s` (service.api.change_versions
says since when it may be); past half of that, it is made again in the background,
once, so a sync that writes all the time leaves the hot answers cached. Concurrent
misses of one key wait for one answer instead of each making their own. Every answer
also expires `ttl_s` after it was made, whatever the data does: some answers depend on
the time too ("upcoming" events).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from service.api.change_versions import ChangeVersions
from service.api.metrics import CacheStats

logger = logging.getLogger("guildgraph.cache")

# What an entry costs besides its body: the key, the objects, the dict slot.
ENTRY_OVERHEAD = 400


@dataclass(frozen=True)
class Answer:
    """A GraphQL answer as it goes out; `shared` ones (public, no errors) may be cached."""

    body: bytes
    status: int
    media_type: str
    shared: bool
    max_age: int
    etag: str | None
    versions: Mapping[str, int]
    made_at: float

    @property
    def size(self) -> int:
        return len(self.body) + ENTRY_OVERHEAD


@dataclass(frozen=True)
class Hit:
    answer: Answer
    max_age: int  # for Cache-Control now: less when the answer may be out of date
    refresh: bool  # past half its staleness allowance: make it again in the background


def cache_key(
    sha256: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    lang: str,
    media_type: str,
) -> bytes:
    parts = [sha256, operation_name, variables or {}, lang, media_type]
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).digest()


class ResponseCache:
    def __init__(
        self,
        max_bytes: int,
        versions: ChangeVersions,
        *,
        max_stale_s: float,
        ttl_s: float,
        stats: CacheStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.versions = versions
        self.max_stale_s = max_stale_s
        self.ttl_s = ttl_s
        self.stats = stats
        self.clock = clock
        stats.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, Answer] = OrderedDict()
        self._making: dict[bytes, asyncio.Future[Answer | None]] = {}
        self._refreshing: dict[bytes, asyncio.Task[None]] = {}

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def lookup(self, key: bytes, *, exact: bool = False) -> Hit | None:
        """The cached answer for `key` when it may be served now, else None (a miss).

        `exact`: only an answer made at the current versions, which the caller has
        just polled (strong consistency, or no staleness allowed at all).
        """
        answer = self._entries.get(key)
        if answer is None:
            self.stats.misses += 1
            return None
        now = self.clock()
        since = self.versions.stale_since(answer.versions)
        if now - answer.made_at >= self.ttl_s or (
            since is not None and (exact or now - since >= self.max_stale_s)
        ):
            self._drop(key)
            self.stats.misses += 1
            return None
        if since is None:
            if not exact and now - self.versions.polled_at >= self.max_stale_s:
                # The poller is late: nothing confirms the answer now. Kept for when it is.
                self.stats.misses += 1
                return None
            hit = Hit(answer, answer.max_age, refresh=False)
        else:
            stale_for = now - since
            hit = Hit(
                answer,
                max(0, int(answer.max_age - stale_for)),
                refresh=stale_for >= self.max_stale_s / 2,
            )
            self.stats.stale_hits += 1
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return hit

    def store(self, key: bytes, answer: Answer) -> None:
        if not answer.shared or not self.enabled or answer.size > self.max_bytes // 4:
            return
        self._drop(key)
        self._entries[key] = answer
        self.stats.bytes += answer.size
        self.stats.entries += 1
        while self.stats.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.stats.bytes -= evicted.size
            self.stats.entries -= 1
            self.stats.evictions += 1

    def _drop(self, key: bytes) -> None:
        answer = self._entries.pop(key, None)
        if answer is not None:
            self.stats.bytes -= answer.size
            self.stats.entries -= 1

    async def make(self, key: bytes, produce: Callable[[], Awaitable[Answer]]) -> Answer:
        """`produce` the answer for `key` and keep it; a request arriving meanwhile for
        the same key waits for this answer instead of making its own."""
        making = self._making.get(key)
        if making is not None:
            self.stats.coalesced += 1
            shared = await asyncio.shield(making)
            if shared is not None:
                return shared
            # The first one failed (its error went to its own caller): try ourselves.
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        answer: Answer | None = None
        try:
            answer = await produce()
            self.store(key, answer)
            return answer
        finally:
            if self._making.get(key) is future:
                del self._making[key]
            future.set_result(answer)

    def refresh(self, key: bytes, produce: Callable[[], Awaitable[Answer]]) -> None:
        """Make the answer for `key` again in the background, unless that is under way."""
        if key in self._refreshing or key in self._making:
            return
        self.stats.refreshes += 1
        task = asyncio.create_task(self._refresh(key, produce), name="response cache refresh")
        self._refreshing[key] = task

    async def _refresh(self, key: bytes, produce: Callable[[], Awaitable[Answer]]) -> None:
        try:
            await self.make(key, produce)
        # A background task has no caller to hand an error to: the answer stays as it
        # is (served until its bound, then made by a request) and the error is logged.
        except Exception:
            logger.exception("refreshing a cached answer failed")
        finally:
            self._refreshing.pop(key, None)

    async def close(self) -> None:
        for task in list(self._refreshing.values()):
            task.cancel()
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
