"""API keys and rate limits: hashed at rest, revocable, limits shared by instances
(exactly, or counted locally and shared in batches with a bounded overshoot)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest

from schema.principal import ANONYMOUS, Principal, Role
from service.auth.keys import (
    KeyRequestError,
    Unauthenticated,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)
from service.auth.rate_limits import Limits, RateLimiter
from service.storage.collections import API_KEYS, RATE_LIMITS, Database
from service.sync.sources import SourceSpec, add_source
from tests.conftest import TEST_KEY_SECRET, client_for, settings_for

SECRET = TEST_KEY_SECRET.encode()
QUERY = {"query": "{ industries { code } }"}


async def _partner_source(db: Database, source_id: str = "acme-registry") -> None:
    await add_source(
        db, SourceSpec(id=source_id, name="ACME", family="partner", kind="push", config={})
    )


async def test_a_key_is_shown_once_and_stored_only_as_a_keyed_hash(db: Database) -> None:
    await _partner_source(db)
    new = await create_key(db, SECRET, Role.PARTNER, "acme-registry", "ACME data team")
    stored = await db[API_KEYS].find_one({"_id": new.key_id})
    assert stored is not None
    assert new.key not in str(stored)
    expected = hmac.new(SECRET, new.key.encode(), hashlib.sha256).hexdigest()
    assert stored["hash"] == expected
    assert all("hash" not in key for key in await list_keys(db))

    principal = await authenticate(db, SECRET, f"Bearer {new.key}", "10.0.0.1")
    assert (principal.role, principal.source_id, principal.key_id) == (
        Role.PARTNER,
        "acme-registry",
        new.key_id,
    )


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Basic dXNlcjpwYXNz", "Bearer gg_", "Bearer gg_0000000000000000_x", "Bearer nope"],
)
async def test_malformed_and_unknown_keys_are_refused(db: Database, header: str) -> None:
    with pytest.raises(Unauthenticated):
        await authenticate(db, SECRET, header, "-")


async def test_a_key_checked_with_another_secret_is_refused(db: Database) -> None:
    new = await create_key(db, SECRET, Role.ADMIN, None)
    with pytest.raises(Unauthenticated):
        await authenticate(db, b"another-secret", f"Bearer {new.key}", "-")


async def test_a_revoked_key_is_refused_at_once(db: Database) -> None:
    new = await create_key(db, SECRET, Role.ADMIN, None)
    await revoke_key(db, new.key_id)
    with pytest.raises(Unauthenticated):
        await authenticate(db, SECRET, f"Bearer {new.key}", "-")
    with pytest.raises(KeyRequestError, match="no active key"):
        await revoke_key(db, new.key_id)


@pytest.mark.parametrize(
    ("role", "source_id", "message"),
    [
        (Role.PARTNER, None, "belongs to one partner source"),
        (Role.PARTNER, "missing", "no source 'missing'"),
        (Role.ADMIN, "acme-registry", "belongs to no source"),
    ],
)
async def test_keys_are_bound_to_the_right_kind_of_source(
    db: Database, role: Role, source_id: str | None, message: str
) -> None:
    await _partner_source(db)
    with pytest.raises(KeyRequestError, match=message):
        await create_key(db, SECRET, role, source_id)
    assert await db[API_KEYS].count_documents({}) == 0


async def test_a_partner_key_needs_a_partner_source(db: Database) -> None:
    await add_source(
        db,
        SourceSpec(
            id="feed",
            name="Feed",
            family="platform",
            kind="ics",
            config={"url": "https://example.org/feed.ics"},
        ),
    )
    with pytest.raises(KeyRequestError, match="not a partner source"):
        await create_key(db, SECRET, Role.PARTNER, "feed")


async def test_a_bad_bearer_key_gets_401_and_no_data(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json=QUERY, headers={"Authorization": "Bearer gg_0123456789abcdef_forged"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "data" not in response.json()


@pytest.fixture
async def two_limited_instances(
    mongo_uri: str, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    # flush_s 0: every request is counted in MongoDB before it is answered (exact).
    settings = settings_for(
        mongo_uri, db.name, rate_limit_per_address=3, rate_limit_per_key=5, rate_limit_flush_s=0
    )
    async for first in client_for(settings):
        async for second in client_for(settings):
            yield first, second


async def test_the_address_limit_is_shared_by_instances_and_answers_429(
    two_limited_instances: tuple[httpx.AsyncClient, httpx.AsyncClient], db: Database
) -> None:
    first, second = two_limited_instances
    statuses = [(await client.post("/graphql", json=QUERY)).status_code for client in
                (first, second, first)]  # fmt: skip
    assert statuses == [200, 200, 200]
    limited = await second.post("/graphql", json=QUERY)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "rate limit" in limited.json()["errors"][0]["message"]
    counters = await db[RATE_LIMITS].find({}).to_list()
    assert [c["count"] for c in counters] == [4]
    assert all(c["expires_at"] for c in counters)  # a TTL index removes old windows


def _limiter(db: Database, per_address: int, flush_requests: int = 1000) -> RateLimiter:
    """A process's limiter that shares its counts only when told to (or once a batch is
    full): the interval is far longer than any test."""
    limits = Limits(60, 0, per_address, flush_s=3600, flush_requests=flush_requests)
    return RateLimiter(lambda: db, limits, db_timeout_s=2.0)


CALLER = Principal(ANONYMOUS.role, client="10.1.2.3")


async def test_batched_counts_bound_the_overshoot_by_the_unshared_requests(
    db: Database,
) -> None:
    first, second = _limiter(db, per_address=3), _limiter(db, per_address=3)
    # Neither process has shared anything yet: each admits up to the limit on its own
    # count. That is the overshoot the README states: (processes - 1) x the requests one
    # process admits between two flushes.
    assert [await first.retry_after(CALLER) for _ in range(3)] == [None] * 3
    assert [await second.retry_after(CALLER) for _ in range(3)] == [None] * 3
    assert await first.retry_after(CALLER) is not None  # one process alone: never over
    await first.flush()
    await second.flush()
    # Both have learnt the shared total (7): every further request is refused.
    assert await first.retry_after(CALLER) is not None
    assert await second.retry_after(CALLER) is not None
    await first.flush()
    await second.flush()
    (counter,) = await db[RATE_LIMITS].find({}).to_list()
    assert counter["count"] == 9  # every request counted once, refused ones too
    assert counter["expires_at"]


async def test_a_full_batch_is_shared_without_waiting_for_the_interval(db: Database) -> None:
    limiter = _limiter(db, per_address=100, flush_requests=5)
    for _ in range(5):
        assert await limiter.retry_after(CALLER) is None
    await limiter.flush_started()  # the fifth request started one in the background
    assert limiter.flushes == 1
    (counter,) = await db[RATE_LIMITS].find({}).to_list()
    assert counter["count"] == 5


async def test_bad_keys_count_against_the_address(mongo_uri: str, db: Database) -> None:
    settings = settings_for(mongo_uri, db.name, rate_limit_per_address=3)
    forged = {"Authorization": "Bearer gg_0123456789abcdef_forged"}
    async for client in client_for(settings):
        statuses = [
            (await client.post("/graphql", json=QUERY, headers=forged)).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 401]
        limited = await client.post("/graphql", json=QUERY, headers=forged)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # The address is over its limit for every request, with a key or without.
        assert (await client.post("/graphql", json=QUERY)).status_code == 429


async def test_each_key_has_its_own_limit(mongo_uri: str, db: Database) -> None:
    settings = settings_for(mongo_uri, db.name, rate_limit_per_key=2)
    first = await create_key(db, SECRET, Role.ADMIN, None)
    second = await create_key(db, SECRET, Role.ADMIN, None)

    async def status(client: httpx.AsyncClient, key: str) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        return (await client.post("/graphql", json=QUERY, headers=headers)).status_code

    async for client in client_for(settings):
        assert [await status(client, first.key) for _ in range(3)] == [200, 200, 429]
        assert await status(client, second.key) == 200


async def test_a_denied_call_is_answered_not_logged_as_a_server_error(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR"):
        response = await http.post("/graphql", json={"query": "{ apiKeys { id } }"})
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
