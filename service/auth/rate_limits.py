"""Request rate limits per API key and per client address, shared by every instance.

Fixed windows counted in MongoDB: one upsert with `$inc` per limited bucket and
request; each counter document expires (TTL index) shortly after its window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from schema.principal import Principal
from service.storage.collections import RATE_LIMITS, Database


@dataclass(frozen=True)
class Limits:
    window_s: int
    per_key: int  # 0: unlimited
    per_address: int


class RateLimiter:
    def __init__(self, database: Database, limits: Limits) -> None:
        self._db = database
        self._limits = limits

    @property
    def enabled(self) -> bool:
        return bool(self._limits.per_key or self._limits.per_address)

    async def retry_after(self, principal: Principal) -> int | None:
        """Count this request; seconds to wait when a limit is exceeded, else None."""
        window = self._limits.window_s
        now = time.time()
        start = int(now // window) * window
        wait = max(1, math.ceil(start + window - now))
        buckets: list[tuple[str, int]] = []
        if self._limits.per_key and principal.key_id:
            buckets.append((f"k:{principal.key_id}", self._limits.per_key))
        if self._limits.per_address:
            buckets.append((f"a:{principal.client}", self._limits.per_address))
        exceeded = False
        for bucket, limit in buckets:
            count = await self._count(f"{bucket}:{start}", start + window)
            exceeded = exceeded or count > limit
        return wait if exceeded else None

    async def _count(self, bucket_id: str, window_end: int) -> int:
        expires = datetime.fromtimestamp(window_end, UTC) + timedelta(seconds=5)
        for _ in range(2):  # two first requests of a window may race on the insert
            try:
                doc = await self._db[RATE_LIMITS].find_one_and_update(
                    {"_id": bucket_id},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            return int(doc["count"]) if doc else 1
        return 1
