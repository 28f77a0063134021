"""The database handle type and the names of the collections guildgraph keeps."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Database = AsyncDatabase[dict[str, Any]]

COMMUNITIES = "communities"
EVENTS = "events"
STANDARDS = "standards"
LISTINGS = "listings"
# Values kept listings were stored without, and why (service.ingest.warnings).
LISTING_WARNINGS = "listing_warnings"
SOURCES = "sources"
SYNC_RUNS = "sync_runs"
API_KEYS = "api_keys"
RATE_LIMITS = "rate_limits"
IDEMPOTENCY = "idempotency"
# Withdrawn entities, kept briefly so subscribers can be told (see service.live.changes).
TOMBSTONES = "tombstones"
# One counter per writing process: read-your-writes barriers (see service.read_model.barrier).
READ_BARRIERS = "read_barriers"
# Entity resolution (service.matching): each scored pair with its evidence, the
# thresholds, the ids merged away and which sources feed each entity type.
MATCH_DECISIONS = "match_decisions"
MATCH_SETTINGS = "match_settings"
ENTITY_REDIRECTS = "entity_redirects"
MATCH_SOURCES = "match_sources"
