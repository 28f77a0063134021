"""The indexes each collection keeps (every one is rewritten on each write of a document)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from service.storage.collections import (
    API_KEYS,
    COMMUNITIES,
    EVENTS,
    IDEMPOTENCY,
    LISTINGS,
    RATE_LIMITS,
    STANDARDS,
    SYNC_RUNS,
    TOMBSTONES,
)


def _ix(*fields: tuple[str, int | str], **options: Any) -> IndexModel:
    return IndexModel(list(fields), **options)


# Few indexes on purpose (each one is rewritten on every write of a document):
# list orders use `keys.*` (store.keyset), equality filters share `filter_terms`
# (service.documents.filter_terms), ranges and search have their own.
INDEXES: dict[str, list[IndexModel]] = {
    COMMUNITIES: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("keys.name", ASCENDING), unique=True),
        _ix(("keys.members", ASCENDING), unique=True),
        _ix(("keys.founded", ASCENDING), unique=True),
        _ix(("keys.updated", ASCENDING), unique=True),
        # Equality on a term, then the default order: MongoDB walks it for sorted pages.
        _ix(("filter_terms", ASCENDING), ("keys.name", ASCENDING)),
        _ix(("search_terms", ASCENDING)),
        _ix(("founded_year", ASCENDING)),
        _ix(("last_event_at", ASCENDING)),
    ],
    EVENTS: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("keys.start", ASCENDING), unique=True),
        _ix(("starts_at", ASCENDING)),
        _ix(("filter_terms", ASCENDING), ("keys.start", ASCENDING)),
        _ix(("search_terms", ASCENDING)),
        # 2dsphereIndexVersion spelled out: the default differs between servers and an
        # implicit one makes the idempotent re-create at start-up conflict.
        _ix(("venue.location", "2dsphere"), **{"2dsphereIndexVersion": 3}),
    ],
    STANDARDS: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("keys.code", ASCENDING), unique=True),
        _ix(("code_key", ASCENDING)),
        _ix(("filter_terms", ASCENDING), ("keys.code", ASCENDING)),
        _ix(("search_terms", ASCENDING)),
    ],
    SYNC_RUNS: [
        _ix(("source_id", ASCENDING), ("created_at", ASCENDING)),
        # Claim order: the highest source priority first, then the oldest.
        _ix(("status", ASCENDING), ("priority", DESCENDING), ("created_at", ASCENDING)),
        _ix(("created_at", ASCENDING)),
        # At most one queued or running run per source, whoever creates it.
        _ix(
            ("source_id", ASCENDING),
            name="one_active_run_per_source",
            unique=True,
            partialFilterExpression={"active": True},
        ),
        # A cron due time creates one run however many instances see it due.
        _ix(
            ("source_id", ASCENDING),
            ("scheduled_for", ASCENDING),
            name="one_run_per_due_time",
            unique=True,
            partialFilterExpression={"scheduled_for": {"$exists": True}},
        ),
    ],
    API_KEYS: [_ix(("created_at", ASCENDING))],
    RATE_LIMITS: [_ix(("expires_at", ASCENDING), expireAfterSeconds=0)],
    IDEMPOTENCY: [_ix(("expires_at", ASCENDING), expireAfterSeconds=0)],
    LISTINGS: [
        # Every listing query starts with its source; each index is rewritten on
        # every listing write, so there are only these two.
        _ix(("source_id", ASCENDING), ("external_id", ASCENDING), unique=True),
        _ix(("source_id", ASCENDING), ("waiting_for", ASCENDING)),
    ],
    TOMBSTONES: [_ix(("expires_at", ASCENDING), expireAfterSeconds=0)],
}
