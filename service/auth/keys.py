"""API keys: created once, stored only as a keyed hash, revocable.

A key reads `gg_<key id>_<secret>`. The key id finds the stored record by its
primary key (one indexed read per request); the whole key is then compared with
the stored HMAC-SHA256 in constant time. The plain key is shown once, at
creation, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from schema.documents import ApiKeyDoc, ApiKeyView
from schema.principal import ANONYMOUS, Principal, Role
from service.errors import ServiceError
from service.settings import ConfigurationError, Environment, Settings
from service.storage import stored
from service.storage.collections import API_KEYS, SOURCES, Database

_PREFIX = "gg"
_SECRET_FILE = "key-secret"  # noqa: S105 (a file name, not a secret)


class KeyRequestError(ServiceError):
    """A key cannot be created or revoked; the message says why."""


class Unauthenticated(ServiceError):
    """A bearer key was sent but is malformed, unknown or revoked (one message for all)."""

    def __init__(self) -> None:
        super().__init__("invalid or revoked API key")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    key: str  # shown once
    role: Role
    source_id: str | None


def key_secret(settings: Settings) -> bytes:
    """The server-side HMAC secret: from settings, or (dev only) a generated file."""
    if settings.key_secret is not None:
        return settings.key_secret.get_secret_value().encode()
    if settings.env is Environment.PROD:
        raise ConfigurationError(
            "GUILDGRAPH_KEY_SECRET must be set in prod (the same on every instance)"
        )
    path = settings.data_dir / _SECRET_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process wrote it first; use theirs
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


async def create_key(
    db: Database, secret: bytes, role: Role, source_id: str | None, label: str = ""
) -> NewKey:
    if role is Role.ANONYMOUS:
        raise KeyRequestError("role: a key is either 'partner' or 'admin'")
    if role is Role.PARTNER:
        if not source_id:
            raise KeyRequestError("source: a partner key belongs to one partner source")
        source = await db[SOURCES].find_one({"_id": source_id}, {"family": 1})
        if source is None:
            raise KeyRequestError(f"source: no source {source_id!r}")
        if source.get("family") != "partner":
            raise KeyRequestError(f"source: {source_id!r} is not a partner source")
    elif source_id:
        raise KeyRequestError("source: an admin key belongs to no source")
    key_id = secrets.token_hex(8)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record: ApiKeyDoc = {
        "_id": key_id,
        "hash": _digest(secret, key),
        "role": role.value,
        "source_id": source_id,
        "label": label[:200],
        "created_at": datetime.now(UTC),
        "revoked_at": None,
    }
    await db[API_KEYS].insert_one(stored.to_insert(record))
    return NewKey(key_id, key, role, source_id)


async def list_keys(db: Database) -> list[ApiKeyView]:
    """Every key's record without its hash, newest first."""
    records = await db[API_KEYS].find({}, {"hash": 0}).sort("created_at", -1).to_list()
    return stored.api_key_view.all(records)


async def revoke_key(db: Database, key_id: str) -> None:
    result = await db[API_KEYS].update_one(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
    )
    if result.matched_count == 0:
        raise KeyRequestError(f"no active key {key_id!r}")


async def authenticate(
    db: Database, secret: bytes, authorization: str | None, client: str = "-"
) -> Principal:
    """The caller behind an `Authorization` header; anonymous when there is none."""
    if not authorization:
        return Principal(ANONYMOUS.role, client=client)
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthenticated
    return await principal_for_key(db, secret, key, client)


async def principal_for_key(db: Database, secret: bytes, key: str, client: str) -> Principal:
    prefix, _, rest = key.partition("_")
    key_id = rest.partition("_")[0]
    if prefix != _PREFIX or not key_id:
        raise Unauthenticated
    record = await db[API_KEYS].find_one({"_id": key_id})
    # Compare even when the record is missing, so timing does not tell which failed.
    stored = record["hash"] if record else "0" * 64
    matches = hmac.compare_digest(stored, _digest(secret, key))
    if record is None or not matches or record.get("revoked_at") is not None:
        raise Unauthenticated
    return Principal(
        Role(record["role"]), key_id=key_id, source_id=record.get("source_id"), client=client
    )


async def key_is_active(db: Database, key_id: str) -> bool:
    record = await db[API_KEYS].find_one({"_id": key_id}, {"revoked_at": 1})
    return record is not None and record.get("revoked_at") is None
