"""Request rate limits per API key and per client address, shared by every instance.

Fixed windows, counted in MongoDB: one counter document per limited bucket and
window, which expires (TTL index) shortly after its window.

A process counts its own requests locally and shares them in batches: every
`flush_s`, or as soon as a bucket has `flush_requests` unshared requests, one bulk
`$inc` per bucket and one read of the totals (two round trips for all buckets). A
request is decided on the last total this process learnt plus its own unshared
count, so an answer (a cache hit above all) needs no database round trip. The price:
requests other processes admitted since their last flush are not seen, so across P
processes a limit can be exceeded by about (P - 1) x the requests one process admits
for that bucket between two flushes (at most `flush_requests`, fewer when requests
come slower than `flush_requests` per `flush_s`). One process alone never exceeds it.

With `flush_s` 0 every request is counted in MongoDB before it is answered (exact
across processes, one round trip per request), as before batching.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pymongo
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from schema.principal import Principal
from service.storage.collections import RATE_LIMITS, Database

logger = logging.getLogger("guildgraph.auth")

EXPIRY_GRACE_S = 5


@dataclass(frozen=True)
class Limits:
    window_s: int
    per_key: int  # 0: unlimited
    per_address: int
    flush_s: float = 0.0  # 0: count every request in MongoDB before answering it
    flush_requests: int = 100


@dataclass
class _Bucket:
    """One bucket in one window, as this process sees it."""

    limit: int
    window_end: int
    shared: int = 0  # the total every process had shared, as last read
    unshared: int = 0  # this process's requests not sent yet
    sending: int = 0  # this process's requests being sent now

    @property
    def seen(self) -> int:
        return self.shared + self.sending + self.unshared


class RateLimiter:
    """One per process: decides on local counts and shares them in batches."""

    def __init__(
        self,
        database: Callable[[], Database],
        limits: Limits,
        *,
        db_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._limits = limits
        self._db_timeout_s = db_timeout_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()  # one flush at a time: each owns `sending`
        self.flushes = 0

    @property
    def enabled(self) -> bool:
        return bool(self._limits.per_key or self._limits.per_address)

    @property
    def batched(self) -> bool:
        return self._limits.flush_s > 0

    def _buckets_of(self, principal: Principal) -> tuple[list[tuple[str, int]], int, int]:
        window = self._limits.window_s
        now = self._clock()
        start = int(now // window) * window
        wait = max(1, math.ceil(start + window - now))
        buckets: list[tuple[str, int]] = []
        if self._limits.per_key and principal.key_id:
            buckets.append((f"k:{principal.key_id}:{start}", self._limits.per_key))
        if self._limits.per_address:
            buckets.append((f"a:{principal.client}:{start}", self._limits.per_address))
        return buckets, start + window, wait

    async def retry_after(self, principal: Principal) -> int | None:
        """Count this request; seconds to wait when a limit is exceeded, else None."""
        buckets, window_end, wait = self._buckets_of(principal)
        exceeded = False
        if not self.batched:
            for bucket_id, limit in buckets:
                with pymongo.timeout(self._db_timeout_s):
                    count = await self._count(bucket_id, window_end)
                exceeded = exceeded or count > limit
            return wait if exceeded else None
        full = False
        for bucket_id, limit in buckets:
            bucket = self._buckets.get(bucket_id)
            if bucket is None:
                bucket = self._buckets[bucket_id] = _Bucket(limit, window_end)
            bucket.unshared += 1
            exceeded = exceeded or bucket.seen > limit
            full = full or bucket.unshared >= self._limits.flush_requests
        if full:
            self._flush_soon()
        return wait if exceeded else None

    async def _count(self, bucket_id: str, window_end: int) -> int:
        expires = datetime.fromtimestamp(window_end, UTC) + timedelta(seconds=EXPIRY_GRACE_S)
        for _ in range(2):  # two first requests of a window may race on the insert
            try:
                doc = await self._database()[RATE_LIMITS].find_one_and_update(
                    {"_id": bucket_id},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            return int(doc["count"]) if doc else 1
        return 1

    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            # A context of its own: the flush is not the work of the request that started it.
            self._flushing = asyncio.create_task(
                self._flush_logged(), name="rate limit flush", context=contextvars.Context()
            )

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except PyMongoError as error:
            # The counts stay unshared and go with the next flush.
            logger.warning("rate limit counts not shared yet: %s", str(error)[:200])

    async def flush(self) -> None:
        """Share the unshared counts: one `$inc` per bucket in one bulk write, then one
        read of every total. Buckets of windows that are over are forgotten."""
        async with self._flush_lock:
            await self._flush()

    async def _flush(self) -> None:
        now = self._clock()
        for bucket_id in [b for b, v in self._buckets.items() if v.window_end <= now]:
            if not self._buckets[bucket_id].unshared:
                del self._buckets[bucket_id]
        sending = {b: v for b, v in self._buckets.items() if v.unshared}
        if not sending:
            return
        for bucket in sending.values():
            bucket.sending, bucket.unshared = bucket.unshared, 0
        collection = self._database()[RATE_LIMITS]
        updates: list[UpdateOne] = [
            UpdateOne(
                {"_id": bucket_id},
                {
                    "$inc": {"count": bucket.sending},
                    "$setOnInsert": {
                        "expires_at": datetime.fromtimestamp(bucket.window_end, UTC)
                        + timedelta(seconds=EXPIRY_GRACE_S)
                    },
                },
                upsert=True,
            )
            for bucket_id, bucket in sending.items()
        ]
        try:
            with pymongo.timeout(self._db_timeout_s):
                await self._upsert(updates)
                totals = {
                    doc["_id"]: int(doc["count"])
                    async for doc in collection.find({"_id": {"$in": list(sending)}})
                }
        except BaseException:
            for bucket in sending.values():  # not shared: they go with the next flush
                bucket.unshared, bucket.sending = bucket.unshared + bucket.sending, 0
            raise
        self.flushes += 1
        for bucket_id, bucket in sending.items():
            bucket.shared = max(bucket.shared + bucket.sending, totals.get(bucket_id, 0))
            bucket.sending = 0
        for bucket_id in [b for b, v in self._buckets.items() if v.window_end <= now]:
            if not self._buckets[bucket_id].unshared:
                del self._buckets[bucket_id]

    async def _upsert(self, updates: list[UpdateOne]) -> None:
        collection = self._database()[RATE_LIMITS]
        for attempt in range(2):  # another process may insert a bucket at the same time
            try:
                await collection.bulk_write(updates, ordered=False)
                return
            except BulkWriteError as error:
                duplicates = all(e.get("code") == 11000 for e in error.details["writeErrors"])
                if not duplicates or attempt:
                    raise
                failed = {e["index"] for e in error.details["writeErrors"]}
                updates = [u for i, u in enumerate(updates) if i in failed]

    async def run(self) -> None:
        """Share counts every `flush_s` until cancelled."""
        if not (self.enabled and self.batched):
            return
        while True:
            await asyncio.sleep(self._limits.flush_s)
            await self._flush_logged()

    async def flush_started(self) -> None:
        """Wait for the flush a full batch started, if one is under way."""
        if self._flushing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing

    async def close(self) -> None:
        """Share what is left (at shutdown)."""
        await self.flush_started()
        if self.enabled and self.batched:
            await self._flush_logged()
