"""The indexes each collection keeps (every one is rewritten on each write of a document)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from service.storage.collections import (
    API_KEYS,
    COMMUNITIES,
    ENTITY_REDIRECTS,
    EVENTS,
    IDEMPOTENCY,
    LISTING_WARNINGS,
    LISTINGS,
    MATCH_DECISIONS,
    MATCH_SOURCES,
    RATE_LIMITS,
    STANDARDS,
    SYNC_RUNS,
    TOMBSTONES,
)


def _ix(*fields: tuple[str, int | str], **options: Any) -> IndexModel:
    return IndexModel(list(fields), **options)


# Only what writes and exact reads need: each index is rewritten on every write of a
# document. Public reads are answered by the read model (service.read_model), which
# keeps its own orders, filters and search terms; an entity here is found by id, by
# slug (assigned at write time, unique) or by a hard key (service.ingest.matching).
INDEXES: dict[str, list[IndexModel]] = {
    COMMUNITIES: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("match_keys", ASCENDING)),
        # The communities a cluster registry made members (service.ingest.memberships);
        # sparse: only those have the field, so the others cost no entry.
        _ix(("clusters", ASCENDING), sparse=True),
    ],
    EVENTS: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("match_keys", ASCENDING)),
    ],
    STANDARDS: [
        _ix(("slug", ASCENDING), unique=True),
        _ix(("match_keys", ASCENDING)),
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
    # One warning per listing and field; admins page a source's by (external id, field).
    LISTING_WARNINGS: [
        _ix(("source_id", ASCENDING), ("external_id", ASCENDING), ("field", ASCENDING), unique=True)
    ],
    # The review queue by status, newest first; a pair's decisions by either entity.
    MATCH_DECISIONS: [
        _ix(("status", ASCENDING), ("entity", ASCENDING), ("created_at", DESCENDING)),
        _ix(("entity_id", ASCENDING)),
        _ix(("candidate_id", ASCENDING)),
    ],
    MATCH_SOURCES: [_ix(("entity", ASCENDING))],
    # Redirects to one survivor are repointed when it is merged away in turn.
    ENTITY_REDIRECTS: [_ix(("to", ASCENDING))],
}
