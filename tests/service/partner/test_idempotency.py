"""Idempotent execution against the real database: once per key, replayed after."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.partner.idempotency import (
    DONE,
    PENDING,
    KeyReused,
    Policy,
    Response,
    StillRunning,
    record_id,
    request_hash,
    run_once,
)
from service.storage.collections import IDEMPOTENCY, Database

SCOPE = {"source_id": "acme", "key_id": "k1"}
POLICY = Policy(ttl_s=3600)


class Counter:
    """An `execute` that counts its runs and answers with the run number."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> Response:
        self.runs += 1
        return {"run": self.runs}


async def once(
    db: Database,
    execute: Any,
    *,
    key: str = "key-1",
    request: Any = "same",
    scope: dict[str, str] = SCOPE,
    policy: Policy = POLICY,
) -> Response:
    return await run_once(
        db,
        scope=scope,
        operation="op",
        key=key,
        request=request_hash(request),
        execute=execute,
        policy=policy,
    )


def test_the_request_hash_ignores_key_order() -> None:
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})


async def test_the_first_request_runs_and_a_retry_replays_it(db: Database) -> None:
    execute = Counter()

    first = await once(db, execute)
    second = await once(db, execute)

    assert first == second == {"run": 1}
    assert execute.runs == 1
    record = await db[IDEMPOTENCY].find_one({"_id": record_id(SCOPE, "op", "key-1")})
    assert record is not None
    assert record["state"] == DONE
    assert record["source_id"] == "acme"
    assert "owner" not in record
    # Kept for the TTL (the collection's TTL index removes it afterwards).
    assert record["expires_at"] - record["created_at"] >= timedelta(seconds=POLICY.ttl_s)


async def test_another_request_under_the_same_key_is_refused(db: Database) -> None:
    execute = Counter()
    await once(db, execute, request={"listings": [1]})

    with pytest.raises(KeyReused):
        await once(db, execute, request={"listings": [2]})
    assert execute.runs == 1


async def test_keys_belong_to_their_caller_and_operation(db: Database) -> None:
    execute = Counter()
    await once(db, execute)
    await once(db, execute, scope={"source_id": "acme", "key_id": "k2"})
    await once(db, execute, scope={"source_id": "other", "key_id": "k1"})
    await once(db, execute, key="key-2")

    assert execute.runs == 4
    assert await db[IDEMPOTENCY].count_documents({}) == 4


async def test_concurrent_requests_with_one_key_run_once(db: Database) -> None:
    execute = Counter()

    responses = await asyncio.gather(*(once(db, execute) for _ in range(20)))

    assert execute.runs == 1
    assert responses == [{"run": 1}] * 20


async def test_a_failed_run_frees_the_key_for_a_retry(db: Database) -> None:
    async def failing() -> Response:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await once(db, failing)
    assert await db[IDEMPOTENCY].count_documents({}) == 0

    execute = Counter()
    assert await once(db, execute) == {"run": 1}


async def _pending(db: Database, lease_until: datetime, request: Any = "same") -> None:
    now = datetime.now(UTC)
    await db[IDEMPOTENCY].insert_one(
        {
            "_id": record_id(SCOPE, "op", "key-1"),
            **SCOPE,
            "operation": "op",
            "request_hash": request_hash(request),
            "state": PENDING,
            "owner": "someone-else",
            "lease_until": lease_until,
            "created_at": now,
            "expires_at": now + timedelta(hours=1),
        }
    )


async def test_a_running_request_makes_a_duplicate_wait_then_give_up(db: Database) -> None:
    await _pending(db, datetime.now(UTC) + timedelta(hours=1))
    execute = Counter()

    with pytest.raises(StillRunning):
        await once(db, execute, policy=Policy(ttl_s=3600, wait_s=0))
    assert execute.runs == 0


async def test_a_pending_record_of_another_request_is_refused_at_once(db: Database) -> None:
    await _pending(db, datetime.now(UTC) + timedelta(hours=1), request="other")

    with pytest.raises(KeyReused):
        await once(db, Counter(), policy=Policy(ttl_s=3600, wait_s=3600))


async def test_an_abandoned_run_is_taken_over(db: Database) -> None:
    await _pending(db, datetime.now(UTC) - timedelta(seconds=1))
    execute = Counter()

    response = await once(db, execute)

    assert response == {"run": 1}
    assert execute.runs == 1
    record = await db[IDEMPOTENCY].find_one({})
    assert record is not None
    assert (record["state"], record["response"]) == (DONE, {"run": 1})
    assert await once(db, execute) == {"run": 1}
