"""Collections, indexes and `$jsonSchema` validators, created idempotently at start-up."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

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

_LOCALIZED = {
    "bsonType": "object",
    "properties": {"ru": {"bsonType": ["string", "null"]}, "en": {"bsonType": ["string", "null"]}},
}
_STRINGS = {"bsonType": "array", "items": {"bsonType": "string"}}
_IDS = {"bsonType": "array", "items": {"bsonType": "objectId"}}
_SOURCES = {
    "bsonType": "array",
    "minItems": 1,
    "items": {
        "bsonType": "object",
        "required": ["source_id", "external_id", "fetched_at"],
        "properties": {
            "source_id": {"bsonType": "string"},
            "external_id": {"bsonType": "string"},
            "fetched_at": {"bsonType": "date"},
        },
    },
}
_ENTITY_COMMON = {
    "slug": {"bsonType": "string", "minLength": 1},
    "sources": _SOURCES,
    "search_terms": _STRINGS,
    "created_at": {"bsonType": "date"},
    "updated_at": {"bsonType": "date"},
}
_ENTITY_REQUIRED = ["slug", "sources", "search_terms", "created_at", "updated_at"]

VALIDATORS: dict[str, dict[str, Any]] = {
    COMMUNITIES: {
        "bsonType": "object",
        "required": [
            *_ENTITY_REQUIRED,
            "name",
            "kind",
            "form",
            "formality",
            "status",
            "keys",
            "last_event_at",
        ],
        "properties": {
            **_ENTITY_COMMON,
            "name": _LOCALIZED,
            "kind": {"bsonType": "string"},
            "form": {"bsonType": "string"},
            "formality": {"enum": ["formal", "informal"]},
            "industries": _STRINGS,
            "countries": _STRINGS,
            "member_of": _IDS,
            "partners": _IDS,
            "founded_year": {"bsonType": ["int", "long", "null"]},
            "member_count": {"bsonType": ["int", "long", "null"]},
            "last_event_at": {"bsonType": "date"},
            "keys": {"bsonType": "object", "required": ["name", "members", "founded", "updated"]},
        },
    },
    EVENTS: {
        "bsonType": "object",
        "required": [
            *_ENTITY_REQUIRED,
            "title",
            "format",
            "starts_at",
            "timezone",
            "attendance_mode",
            "status",
            "month",
            "keys",
        ],
        "properties": {
            **_ENTITY_COMMON,
            "title": _LOCALIZED,
            "starts_at": {"bsonType": "date"},
            "ends_at": {"bsonType": ["date", "null"]},
            "timezone": {"bsonType": "string"},
            "organizers": _IDS,
            "month": {"bsonType": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        },
    },
    STANDARDS: {
        "bsonType": "object",
        "required": [*_ENTITY_REQUIRED, "code", "code_key", "title", "kind", "status", "keys"],
        "properties": {
            **_ENTITY_COMMON,
            "code": {"bsonType": "string"},
            "code_key": {"bsonType": "string"},
            "title": _LOCALIZED,
            "adopters": _IDS,
            "parties": _IDS,
        },
    },
    SOURCES: {
        "bsonType": "object",
        "required": ["name", "family", "kind", "config", "enabled", "priority", "created_at"],
        "properties": {
            "family": {"enum": ["association", "cluster", "platform", "partner"]},
            "kind": {"bsonType": "string"},
            "config": {"bsonType": "object"},
            "enabled": {"bsonType": "bool"},
        },
    },
    SYNC_RUNS: {
        "bsonType": "object",
        "required": ["source_id", "status", "mode", "trigger", "created_at", "counts"],
        "properties": {
            "status": {
                "enum": [
                    "queued",
                    "running",
                    "succeeded",
                    "partially_succeeded",
                    "failed",
                    "cancelled",
                ]
            },
            "mode": {"enum": ["incremental", "full"]},
            # Each one is a value of schema.runs.SyncTrigger.
            "trigger": {"enum": ["cli", "api", "schedule", "demo", "bench"]},
        },
    },
    LISTINGS: {
        "bsonType": "object",
        "required": [
            "source_id",
            "external_id",
            "entity",
            "entity_id",
            "received_at",
            "state",
        ],
        "properties": {
            "source_id": {"bsonType": "string"},
            "external_id": {"bsonType": "string"},
            "entity": {"enum": ["community", "event", "standard"]},
            "entity_id": {"bsonType": "objectId"},
            "hash": {"bsonType": "string"},
            "rejected": {"bsonType": "object", "required": ["payload", "hash", "errors"]},
            "state": {"enum": ["applied", "rejected", "withdrawn"]},
            "received_at": {"bsonType": "date"},
        },
    },
}


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


async def ensure_collections(db: Database) -> None:
    """Create collections, validators and indexes; safe to run on every start."""
    existing = set(await db.list_collection_names())
    for name, schema in VALIDATORS.items():
        validator = {"$jsonSchema": schema}
        if name in existing:
            await db.command("collMod", name, validator=validator, validationLevel="strict")
        else:
            try:
                await db.create_collection(name, validator=validator, validationLevel="strict")
            except CollectionInvalid:
                # Another instance created it between our listing and now.
                await db.command("collMod", name, validator=validator)
    for name, indexes in INDEXES.items():
        try:
            await db[name].create_indexes(indexes)
        except OperationFailure as error:
            raise RuntimeError(f"cannot create indexes on {name}: {error}") from error
        # Indexes this version no longer declares only cost writes: drop them.
        wanted = {index.document["name"] for index in indexes} | {"_id_"}
        for existing_name in await db[name].index_information():
            if existing_name not in wanted:
                await db[name].drop_index(existing_name)
