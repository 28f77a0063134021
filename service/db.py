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
        "required": [*_ENTITY_REQUIRED, "name", "kind", "form", "formality", "status", "sort"],
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
            "event_starts": {"bsonType": "array", "items": {"bsonType": "date"}},
            "sort": {"bsonType": "object", "required": ["name", "members", "founded"]},
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
        "required": [*_ENTITY_REQUIRED, "code", "code_key", "title", "kind", "status"],
        "properties": {
            **_ENTITY_COMMON,
            "code": {"bsonType": "string"},
            "code_key": {"bsonType": "string"},
            "title": _LOCALIZED,
            "adopters": _IDS,
            "parties": _IDS,
        },
    },
    LISTINGS: {
        "bsonType": "object",
        "required": [
            "source_id",
            "external_id",
            "entity",
            "hash",
            "payload",
            "received_at",
            "state",
        ],
        "properties": {
            "source_id": {"bsonType": "string"},
            "external_id": {"bsonType": "string"},
            "entity": {"enum": ["community", "event", "standard"]},
            "hash": {"bsonType": "string"},
            "state": {"enum": ["pending", "applied", "rejected"]},
            "received_at": {"bsonType": "date"},
        },
    },
}


def _keyset(*fields: tuple[str, int]) -> list[tuple[str, int]]:
    """An index whose last key is `_id`, the tie-breaker of every keyset page."""
    direction = fields[-1][1] if fields else ASCENDING
    return [*fields, ("_id", direction)]


INDEXES: dict[str, list[IndexModel]] = {
    COMMUNITIES: [
        IndexModel([("slug", ASCENDING)], unique=True),
        IndexModel(_keyset(("sort.name", ASCENDING))),
        IndexModel(_keyset(("sort.members", DESCENDING))),
        IndexModel(_keyset(("sort.founded", ASCENDING))),
        IndexModel(_keyset(("updated_at", DESCENDING))),
        IndexModel(_keyset(("industries", ASCENDING), ("sort.name", ASCENDING))),
        IndexModel(_keyset(("kind", ASCENDING), ("sort.name", ASCENDING))),
        IndexModel(_keyset(("form", ASCENDING), ("sort.name", ASCENDING))),
        IndexModel(_keyset(("formality", ASCENDING), ("sort.name", ASCENDING))),
        IndexModel(_keyset(("countries", ASCENDING), ("sort.name", ASCENDING))),
        IndexModel([("city_key", ASCENDING)]),
        IndexModel([("tags", ASCENDING)]),
        IndexModel([("offers", ASCENDING)]),
        IndexModel([("founded_year", ASCENDING)]),
        IndexModel([("member_of", ASCENDING)]),
        IndexModel([("status", ASCENDING)]),
        IndexModel([("event_starts", ASCENDING)]),
        IndexModel([("search_terms", ASCENDING)]),
    ],
    EVENTS: [
        IndexModel([("slug", ASCENDING)], unique=True),
        IndexModel(_keyset(("starts_at", ASCENDING))),
        IndexModel([("organizers", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("format", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("attendance_mode", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("venue.country", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("city_key", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("venue.location", "2dsphere")], **{"2dsphereIndexVersion": 3}),
        IndexModel([("search_terms", ASCENDING)]),
    ],
    STANDARDS: [
        IndexModel(_keyset(("code_key", ASCENDING))),
        IndexModel([("issuer", ASCENDING)]),
        IndexModel([("adopters", ASCENDING)]),
        IndexModel([("parties", ASCENDING)]),
        IndexModel([("kind", ASCENDING), ("code_key", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("code_key", ASCENDING)]),
        IndexModel([("industries", ASCENDING), ("code_key", ASCENDING)]),
        IndexModel([("search_terms", ASCENDING)]),
    ],
    LISTINGS: [
        IndexModel([("source_id", ASCENDING), ("external_id", ASCENDING)], unique=True),
        IndexModel([("entity_id", ASCENDING)]),
        IndexModel([("source_id", ASCENDING), ("waiting_for", ASCENDING)]),
        IndexModel([("source_id", ASCENDING), ("state", ASCENDING)]),
    ],
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
        except OperationFailure as error:  # pragma: no cover - only on a changed index spec
            raise RuntimeError(f"cannot create indexes on {name}: {error}") from error
