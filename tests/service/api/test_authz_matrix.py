"""Every mutation and admin query × {anonymous, partner A, partner B, admin}.

Each cell says allow or deny. A denial is the one uniform FORBIDDEN error (the
same whether the target exists or not) and leaves every collection exactly as
it was; an allowed partner call touches only the caller's own source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from schema.models import Listing
from schema.principal import Role
from schema.relay import to_global_id
from service.auth.keys import create_key
from service.ingest.pipeline import ingest
from service.ingest.rejected import keep_unusable
from service.storage.collections import LISTINGS, RATE_LIMITS, READ_BARRIERS, SYNC_RUNS, Database
from service.sync.sources import SourceSpec, add_source
from tests.conftest import TEST_KEY_SECRET, client_for, settings_for

CALLERS = ("anonymous", "partner_a", "partner_b", "admin")
ADMIN_ONLY = {"admin"}
PARTNERS = {"partner_a", "partner_b"}
RUN_ID = ObjectId("65a000000000000000000001")
MISSING_RUN_ID = ObjectId("65a0000000000000000000ff")
GHOST = to_global_id("Community", "65a0000000000000000000fe")
OTHER_GHOST = to_global_id("Community", "65a0000000000000000000fd")
LISTING_ID = to_global_id("Listing", "acme-a/a-1")


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    allowed: frozenset[str]


def _op(name: str, document: str, allowed: set[str]) -> Operation:
    return Operation(name, document, frozenset(allowed))


LISTING = (
    '{externalId: "m-1", community: {name: {ru: "Матрица"}, kind: PROFESSIONAL, form: ASSOCIATION}}'
)
OPERATIONS = [
    # Admin queries
    _op("sources", "{ sources { __typename } }", ADMIN_ONLY),
    _op("source", '{ source(id: "acme-a") { __typename } }', ADMIN_ONLY),
    _op("source (missing)", '{ source(id: "no-such") { __typename } }', ADMIN_ONLY),
    _op("syncRuns", "{ syncRuns { __typename } }", ADMIN_ONLY),
    _op("syncRun", f'{{ syncRun(id: "{RUN_ID}") {{ __typename }} }}', ADMIN_ONLY),
    _op("syncRun (missing)", f'{{ syncRun(id: "{MISSING_RUN_ID}") {{ __typename }} }}', ADMIN_ONLY),
    _op("rejectedListings", '{ rejectedListings(sourceId: "feed") { __typename } }', ADMIN_ONLY),
    _op("listingWarnings", '{ listingWarnings(sourceId: "feed") { __typename } }', ADMIN_ONLY),
    _op("apiKeys", "{ apiKeys { __typename } }", ADMIN_ONLY),
    _op("matchReviews", "{ matchReviews { __typename } }", ADMIN_ONLY),
    _op("matchedEntity", f'{{ matchedEntity(id: "{GHOST}") {{ __typename }} }}', ADMIN_ONLY),
    # Admin mutations
    _op(
        "createSource",
        'mutation { createSource(input: {id: "new-feed", name: "New", family: PLATFORM,'
        ' kind: "ics", config: {url: "https://example.org/new.ics"}}) { __typename } }',
        ADMIN_ONLY,
    ),
    _op(
        "updateSource",
        'mutation { updateSource(id: "feed", input: {name: "Renamed"}) { __typename } }',
        ADMIN_ONLY,
    ),
    _op(
        "setSourceEnabled",
        'mutation { setSourceEnabled(id: "feed", enabled: false) { __typename } }',
        ADMIN_ONLY,
    ),
    _op("deleteSource", 'mutation { deleteSource(id: "spare") { __typename } }', ADMIN_ONLY),
    _op("triggerSync", 'mutation { triggerSync(sourceId: "feed") { __typename } }', ADMIN_ONLY),
    _op("cancelSync", f'mutation {{ cancelSync(runId: "{RUN_ID}") {{ __typename }} }}', ADMIN_ONLY),
    _op(
        "reprocessListings",
        'mutation { reprocessListings(sourceId: "feed") { __typename } }',
        ADMIN_ONLY,
    ),
    _op(
        "resolveMatch",
        f'mutation {{ resolveMatch(id: "{MISSING_RUN_ID}", decision: SAME) {{ __typename }} }}',
        ADMIN_ONLY,
    ),
    _op(
        "mergeEntities",
        f'mutation {{ mergeEntities(ids: ["{GHOST}", "{OTHER_GHOST}"]) {{ __typename }} }}',
        ADMIN_ONLY,
    ),
    _op(
        "splitEntity",
        f'mutation {{ splitEntity(id: "{GHOST}", listingIds: ["{LISTING_ID}"]) {{ __typename }} }}',
        ADMIN_ONLY,
    ),
    _op(
        "createApiKey",
        "mutation { createApiKey(role: ADMIN) { __typename } }",
        ADMIN_ONLY,
    ),
    _op(
        "revokeApiKey",
        'mutation { revokeApiKey(id: "0000000000000000") { __typename } }',
        ADMIN_ONLY,
    ),
    # Partner mutations
    _op(
        "upsertListings",
        f"mutation {{ upsertListings(input: {{listings: [{LISTING}]}}) {{ __typename }} }}",
        PARTNERS,
    ),
    _op(
        "withdrawListings",
        'mutation { withdrawListings(externalIds: ["a-1"]) { __typename } }',
        PARTNERS,
    ),
]


@dataclass
class World:
    http: httpx.AsyncClient
    db: Database
    headers: dict[str, dict[str, str]]


async def _build(db: Database) -> dict[str, dict[str, str]]:
    secret = TEST_KEY_SECRET.encode()
    for source_id in ("acme-a", "acme-b"):
        spec = SourceSpec(id=source_id, name=source_id, family="partner", kind="push", config={})
        await add_source(db, spec)
    for source_id in ("feed", "spare"):
        spec = SourceSpec(
            id=source_id,
            name=source_id,
            family="platform",
            kind="ics",
            config={"url": f"https://example.org/{source_id}.ics"},
        )
        await add_source(db, spec)
    payload = {"name": {"ru": "Гильдия А"}, "kind": "professional", "form": "association"}
    await ingest(db, [Listing(entity="community", source_id="acme-a", external_id="a-1",
                              payload=payload)])  # fmt: skip
    await keep_unusable(db, "community", "feed", [("bad-1", "no name column", {"x": 1})])  # type: ignore[arg-type]
    await db[SYNC_RUNS].insert_one(
        {
            "_id": RUN_ID,
            "source_id": "feed",
            "mode": "full",
            "trigger": "api",
            "status": "succeeded",
            "created_at": datetime.now(UTC),
            "counts": {},
        }
    )
    keys = {
        "partner_a": await create_key(db, secret, Role.PARTNER, "acme-a"),
        "partner_b": await create_key(db, secret, Role.PARTNER, "acme-b"),
        "admin": await create_key(db, secret, Role.ADMIN, None),
    }
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for caller, key in keys.items():
        headers[caller] = {"Authorization": f"Bearer {key.key}"}
    return headers


@pytest.fixture
async def world(mongo_uri: str, db: Database) -> AsyncIterator[World]:
    headers = await _build(db)
    async for http in client_for(settings_for(mongo_uri, db.name)):
        yield World(http, db, headers)


async def _snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection (rate-limit counters aside: requests count)."""
    names = sorted(set(await db.list_collection_names()) - {RATE_LIMITS, READ_BARRIERS})
    return {name: await db[name].find({}).sort("_id", 1).to_list() for name in names}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
async def test_authorization_matrix(world: World, operation: Operation, caller: str) -> None:
    before = await _snapshot(world.db)
    response = await world.http.post(
        "/graphql", json={"query": operation.document}, headers=world.headers[caller]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]

    if caller in operation.allowed:
        # Allowed: executed without errors (a missing target is null or a typed result).
        assert "errors" not in body, body
        assert body["data"] is not None
        return
    assert codes == ["FORBIDDEN"], body
    (error,) = body["errors"]
    # Uniform: one message for every denial, naming neither the target nor its existence.
    assert error["message"] == (
        "not allowed: this operation needs a key with the right role and scope"
    )
    assert body["data"] is None or all(v is None for v in body["data"].values())
    assert await _snapshot(world.db) == before


async def test_a_partner_cannot_withdraw_or_overwrite_another_partners_listing(
    world: World,
) -> None:
    before = await world.db[LISTINGS].find({"source_id": "acme-a"}).to_list()
    withdraw = await world.http.post(
        "/graphql",
        json={
            "query": 'mutation { withdrawListings(externalIds: ["a-1"]) { results { outcome } } }'
        },
        headers=world.headers["partner_b"],
    )
    assert withdraw.json()["data"]["withdrawListings"]["results"] == [{"outcome": "NOT_FOUND"}]
    upsert = await world.http.post(
        "/graphql",
        json={
            "query": "mutation { upsertListings(input: {listings: "
            '[{externalId: "a-1", community: {name: {ru: "Чужая"}, kind: PROFESSIONAL,'
            " form: ASSOCIATION}}]}) { results { outcome } } }"
        },
        headers=world.headers["partner_b"],
    )
    assert upsert.json()["data"]["upsertListings"]["results"] == [{"outcome": "CREATED"}]
    # B's listing "a-1" is B's own; A's listing of the same id is untouched.
    assert await world.db[LISTINGS].find({"source_id": "acme-a"}).to_list() == before
    assert await world.db[LISTINGS].count_documents({"source_id": "acme-b"}) == 1
