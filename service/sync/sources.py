"""Sources: registered connectors (what to read, how, when) and their stream states.

A source's connector configuration is validated when it is saved, with errors
that name the field; its stream states are written only by the sync engine, each
after the records before it are durable (every write is journaled: see
service.storage.client.mongo_client).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from connectors.registry import ConfigError, validate_config
from schema.documents import SourceDoc
from service.errors import ServiceError
from service.ingest.survivorship import RANKED_FIELDS
from service.storage import stored
from service.storage.collections import SOURCES, Database
from service.sync import cron


class Family(StrEnum):
    ASSOCIATION = "association"
    CLUSTER = "cluster"
    PLATFORM = "platform"
    PARTNER = "partner"


# Partner sources have no connector: their listings arrive through mutations.
PUSH = "push"
# The same as a Listing's `source_id` (schema.models).
_CAMEL = re.compile(r"[A-Z]")
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SourceError(ServiceError):
    """A source cannot be saved or found; the message says which and why."""


class SourceSpec(BaseModel):
    """What an admin registers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    family: Family
    kind: str
    config: dict[str, Any]
    schedule: str | None = Field(default=None, description="cron expression, UTC")
    enabled: bool = True
    priority: int = Field(default=100, ge=0, le=1000)
    # Where this source's value of a field should rank otherwise than `priority` says
    # (service.ingest.survivorship): {"website": 900} or {"foundedYear": 10}.
    field_priorities: dict[str, int] = Field(default_factory=dict)

    @field_validator("field_priorities")
    @classmethod
    def _ranked_fields(cls, value: dict[str, int]) -> dict[str, int]:
        ranked: dict[str, int] = {}
        for name, rank in value.items():
            stored_name = _CAMEL.sub(lambda m: "_" + m.group(0).lower(), name)
            if stored_name not in RANKED_FIELDS:
                raise ValueError(f"{name!r} is not a field of a community, event or standard")
            if not 0 <= rank <= 1000:
                raise ValueError(f"{name}: {rank} is not a priority from 0 to 1000")
            ranked[stored_name] = rank
        return ranked

    @field_validator("id")
    @classmethod
    def _an_id(cls, value: str) -> str:
        if not _SOURCE_ID.match(value):
            raise ValueError(
                f"{value!r} is not a source id: use lowercase letters, digits, '-' and '_', "
                "starting with a letter or digit, at most 63 characters (e.g. 'nko-registry')"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not cron.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression such as '0 3 * * *'")
        return value

    @model_validator(mode="after")
    def _connector_config(self) -> SourceSpec:
        if self.id == "demo":
            raise ValueError("id: 'demo' is the built-in demo source")
        if (self.kind == PUSH) != (self.family is Family.PARTNER):
            raise ValueError(f"kind: a partner source has kind {PUSH!r}, and only a partner source")
        if self.kind == PUSH:
            if self.config:
                raise ValueError("config: a partner (push) source has no connector configuration")
            if self.schedule is not None:
                raise ValueError("schedule: partners push their listings; nothing to schedule")
            return self
        try:
            validate_config(self.kind, self.config)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self


async def add_source(db: Database, spec: SourceSpec) -> SourceDoc:
    now = datetime.now(UTC)
    document: SourceDoc = {
        "_id": spec.id,
        "name": spec.name,
        "family": spec.family.value,
        "kind": spec.kind,
        # Dumped as JSON, so that only JSON values reach the database.
        "config": spec.model_dump(include={"config"}, mode="json")["config"],
        "schedule": spec.schedule,
        "enabled": spec.enabled,
        "priority": spec.priority,
        "field_priorities": spec.field_priorities,
        "sync": {"epoch": None, "streams": {}},
        "created_at": now,
        "updated_at": now,
    }
    try:
        await db[SOURCES].insert_one(stored.to_insert(document))
    except DuplicateKeyError:
        raise SourceError(f"id: a source {spec.id!r} already exists") from None
    return document


async def get_source(db: Database, source_id: str) -> SourceDoc:
    source = await db[SOURCES].find_one({"_id": source_id})
    if source is None:
        raise SourceError(f"no source {source_id!r}")
    return stored.source(source)


async def list_sources(db: Database) -> list[SourceDoc]:
    return stored.source.all(await db[SOURCES].find({}).sort("_id", 1).to_list())


async def set_enabled(db: Database, source_id: str, enabled: bool) -> None:
    result = await db[SOURCES].update_one(
        {"_id": source_id}, {"$set": {"enabled": enabled, "updated_at": datetime.now(UTC)}}
    )
    if result.matched_count == 0:
        raise SourceError(f"no source {source_id!r}")


_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def save_stream_state(
    db: Database,
    source_id: str,
    stream: str,
    state: dict[str, Any],
    *,
    complete: bool,
    fence: int | None = None,
) -> bool:
    """Checkpoint one stream (durable: a resumed run starts exactly here).

    With `fence`, only while the source's fencing token is still that one; returns
    False when a newer holder has taken the source's run over (nothing written).
    """
    if not _STREAM_NAME.match(stream):
        raise SourceError(f"stream name {stream!r} cannot be stored")
    result = await db[SOURCES].update_one(
        _fenced(source_id, fence),
        {"$set": {f"sync.streams.{stream}": {"state": state, "complete": complete}}},
    )
    return result.matched_count == 1


def config_fingerprint(source: SourceDoc) -> str:
    """What a change of the source's connector (kind or configuration) changes."""
    canonical = orjson.dumps(
        {"kind": source["kind"], "config": source.get("config") or {}},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()[:32]


async def start_pass(
    db: Database,
    source_id: str,
    epoch: str | None,
    reset: bool,
    fence: int | None = None,
    *,
    config_hash: str | None = None,
) -> bool:
    """Begin a full pass (`epoch`) or an incremental one (None); `reset` forgets states.
    `config_hash`: the configuration the stream states are made with from now on."""
    update: dict[str, Any] = {"sync.epoch": epoch}
    if reset:
        update["sync.streams"] = {}
    if config_hash is not None:
        update["sync.config_hash"] = config_hash
    result = await db[SOURCES].update_one(_fenced(source_id, fence), {"$set": update})
    return result.matched_count == 1


def _fenced(source_id: str, fence: int | None) -> dict[str, Any]:
    return {"_id": source_id} if fence is None else {"_id": source_id, "sync.fence": fence}


async def update_source(db: Database, source_id: str, fields: dict[str, Any]) -> SourceDoc | None:
    """Set validated spec fields (never the sync state); the source after, None if absent."""
    updated: dict[str, Any] | None = await db[SOURCES].find_one_and_update(
        {"_id": source_id},
        {"$set": {**fields, "updated_at": datetime.now(UTC)}},
        return_document=ReturnDocument.AFTER,
    )
    return stored.source.one(updated)


async def delete_source(db: Database, source_id: str) -> bool:
    result = await db[SOURCES].delete_one({"_id": source_id})
    return result.deleted_count == 1
