"""`$jsonSchema` validators: what the database itself refuses to store."""

from __future__ import annotations

from typing import Any

from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, SOURCES, STANDARDS, SYNC_RUNS

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
    # Hard keys (service.ingest.matching): how a listing of another source finds it.
    "match_keys": _STRINGS,
    "created_at": {"bsonType": "date"},
    "updated_at": {"bsonType": "date"},
}
_ENTITY_REQUIRED = ["slug", "sources", "match_keys", "created_at", "updated_at"]

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
            "own_member_of": _IDS,
            "clusters": _IDS,
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
        ],
        "properties": {
            **_ENTITY_COMMON,
            "title": _LOCALIZED,
            "starts_at": {"bsonType": "date"},
            "ends_at": {"bsonType": ["date", "null"]},
            "timezone": {"bsonType": "string"},
            "organizers": _IDS,
        },
    },
    STANDARDS: {
        "bsonType": "object",
        "required": [*_ENTITY_REQUIRED, "code", "title", "kind", "status"],
        "properties": {
            **_ENTITY_COMMON,
            "code": {"bsonType": "string"},
            "title": _LOCALIZED,
            "adopters": _IDS,
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
            # Each one is a value of schema.admin.runs.SyncTrigger.
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
