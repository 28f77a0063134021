"""The database handle type and the names of the collections guildgraph keeps."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Database = AsyncDatabase[dict[str, Any]]

COMMUNITIES = "communities"
EVENTS = "events"
STANDARDS = "standards"
LISTINGS = "listings"
SOURCES = "sources"
SYNC_RUNS = "sync_runs"
API_KEYS = "api_keys"
RATE_LIMITS = "rate_limits"
IDEMPOTENCY = "idempotency"
# Withdrawn entities, kept briefly so subscribers can be told (see service.live.changes).
TOMBSTONES = "tombstones"
# One counter per writing process: read-your-writes barriers (see service.read_model.barrier).
READ_BARRIERS = "read_barriers"
