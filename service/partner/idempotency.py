"""Idempotent requests: one request per (caller, key) runs once; its retries replay it.

One record per key in `idempotency`, its `_id` built from the caller and the key,
so the unique `_id` index decides who runs (no transaction needed):

    insert {_id, request_hash, state: pending, owner, lease_until, expires_at}
      ├─ inserted: run, renewing the lease meanwhile; then state done + response
      │            (a failed run deletes the record: the client may retry)
      └─ duplicate key: read the record
           ├─ another request hash ─ KeyReused, nothing runs
           ├─ done ───────────────── its response, nothing runs
           └─ pending ────────────── poll until done (bounded: StillRunning);
                                     a lease that ran out means its owner died: take
                                     it over with a conditional update and run

Running again after a takeover is safe because what runs here (ingestion) is
itself idempotent per content. Records expire through the TTL index on
`expires_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pymongo.errors import DuplicateKeyError, PyMongoError

from service.errors import ServiceError
from service.storage.collections import IDEMPOTENCY, Database

logger = logging.getLogger("guildgraph.idempotency")

PENDING = "pending"
DONE = "done"

Response = dict[str, Any]


class KeyReused(ServiceError):
    """The key was first used for a request with other content."""


class StillRunning(ServiceError):
    """The request holding the key did not finish within the wait."""


@dataclass(frozen=True)
class Policy:
    ttl_s: float  # how long a key (and its response) is kept
    lease_s: float = 30.0  # a pending record without renewal this long is abandoned
    wait_s: float = 30.0  # how long a duplicate waits for the running request
    first_poll_s: float = 0.02
    max_poll_s: float = 0.5


def request_hash(request: Any) -> str:
    """A stable hash of a JSON-like request (key order does not matter)."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record_id(scope: Mapping[str, str], operation: str, key: str) -> str:
    # Scope values are ids without ":" (key ids, source ids); the client's key goes last.
    return ":".join([*scope.values(), operation, key])


async def run_once(
    db: Database,
    *,
    scope: Mapping[str, str],
    operation: str,
    key: str,
    request: str,
    execute: Callable[[], Awaitable[Response]],
    policy: Policy,
) -> Response:
    """`execute()`'s response, running it only if no request with this key ran.

    `scope` names the caller (stored on the record and part of every filter), so two
    callers never share a key; `request` is the request's hash.
    """
    ids = {"_id": record_id(scope, operation, key), **scope}
    token = secrets.token_hex(8)
    collection = db[IDEMPOTENCY]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.wait_s
    delay = policy.first_poll_s
    while True:
        now = datetime.now(UTC)
        try:
            await collection.insert_one(
                {
                    **ids,
                    "operation": operation,
                    "request_hash": request,
                    "state": PENDING,
                    "owner": token,
                    "lease_until": now + _seconds(policy.lease_s),
                    "created_at": now,
                    "expires_at": now + _seconds(policy.ttl_s),
                }
            )
        except DuplicateKeyError:
            pass
        else:
            return await _run_as_owner(db, ids, token, execute, policy)

        record = await collection.find_one(ids)
        if record is not None:
            if record["request_hash"] != request:
                raise KeyReused
            if record["state"] == DONE:
                response: Response = record["response"]
                return response
            if _aware(record["lease_until"]) <= now:
                taken = await collection.update_one(
                    {**ids, "state": PENDING, "owner": record["owner"], "request_hash": request},
                    {"$set": {"owner": token, "lease_until": now + _seconds(policy.lease_s)}},
                )
                if taken.modified_count == 1:
                    logger.warning("idempotency key %s: abandoned run taken over", ids["_id"])
                    return await _run_as_owner(db, ids, token, execute, policy)
        # else: the record expired or its run failed between our insert and read; retry.
        if loop.time() >= deadline:
            raise StillRunning
        await asyncio.sleep(delay)
        delay = min(delay * 2, policy.max_poll_s)


async def _run_as_owner(
    db: Database,
    ids: Mapping[str, str],
    token: str,
    execute: Callable[[], Awaitable[Response]],
    policy: Policy,
) -> Response:
    collection = db[IDEMPOTENCY]
    mine = {**ids, "state": PENDING, "owner": token}
    renewal = asyncio.create_task(_renew(db, mine, policy))
    try:
        response = await execute()
    except BaseException:
        # Let a retry run it again (what ran is idempotent): forget the pending record.
        await asyncio.shield(collection.delete_one(mine))
        raise
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
    now = datetime.now(UTC)
    done = await collection.update_one(
        mine,
        {
            "$set": {
                "state": DONE,
                "response": response,
                "expires_at": now + _seconds(policy.ttl_s),
            },
            "$unset": {"owner": "", "lease_until": ""},
        },
    )
    if done.matched_count == 0:
        # Our lease was taken over (we were stalled past it): the new owner stores its
        # own response; ours is still true for this request.
        logger.warning("idempotency key %s: lease lost before the response was kept", ids["_id"])
    return response


async def _renew(db: Database, mine: Mapping[str, str], policy: Policy) -> None:
    """Extend the lease while the request runs, so only a dead owner's lease runs out."""
    while True:
        await asyncio.sleep(policy.lease_s / 3)
        until = datetime.now(UTC) + _seconds(policy.lease_s)
        try:
            await db[IDEMPOTENCY].update_one(dict(mine), {"$set": {"lease_until": until}})
        except PyMongoError as error:  # the next renewal may get through
            logger.warning("idempotency lease not renewed: %s", error)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
