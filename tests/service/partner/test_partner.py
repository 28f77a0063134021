"""Partner writes over real HTTP: upsertListings, withdrawListings, keys and idempotency."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

import service.partner.service
from schema.principal import Role
from service.auth.keys import create_key
from service.ingest.pipeline import IngestResult
from service.storage.collections import (
    COMMUNITIES,
    EVENTS,
    IDEMPOTENCY,
    LISTINGS,
    READ_BARRIERS,
    STANDARDS,
    Database,
)
from service.sync.sources import SourceSpec, add_source, set_enabled
from tests.conftest import TEST_KEY_SECRET, GraphQLClient

UPSERT = """
mutation Upsert($input: UpsertListingsInput!) {
  upsertListings(input: $input) {
    results { index externalId entityType outcome entityId errors { path message } }
    created updated unchanged rejected
  }
}"""
WITHDRAW = """
mutation Withdraw($ids: [String!]!) {
  withdrawListings(externalIds: $ids) {
    results { index externalId outcome }
    withdrawn notFound
  }
}"""
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    ... on Community { name(lang: EN) sources { sourceId externalId } }
    ... on Event { title(lang: EN) }
    ... on Standard { code }
  }
}"""


async def partner_key(db: Database, source_id: str = "acme") -> str:
    await add_source(
        db, SourceSpec(id=source_id, name=source_id, family="partner", kind="push", config={})
    )
    return (await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, source_id)).key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def community(name: str = "Fintech Association", **extra: Any) -> dict[str, Any]:
    return {
        "name": {"en": name, "ru": "Ассоциация"},
        "kind": "NATIONAL",
        "form": "ASSOCIATION",
        "countries": ["RU"],
        **extra,
    }


def event(**extra: Any) -> dict[str, Any]:
    return {
        "title": {"en": "Fintech meetup"},
        "format": "MEETUP",
        "startsAt": "2026-03-10T19:00:00+03:00",
        "attendanceMode": "ONLINE",
        "onlineUrl": "https://meet.example/fintech",
        **extra,
    }


def standard(**extra: Any) -> dict[str, Any]:
    return {"code": "FT-1", "title": {"en": "Open banking API"}, "kind": "TECHNICAL", **extra}


async def upsert(
    api: GraphQLClient,
    key: str | None,
    listings: Sequence[dict[str, Any]],
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    variables = {"input": {"listings": list(listings), "idempotencyKey": idempotency_key}}
    return await api.query(UPSERT, variables, **(bearer(key) if key else {}))


async def upserted(api: GraphQLClient, key: str, listings: Sequence[dict[str, Any]]) -> Any:
    body = await upsert(api, key, listings)
    assert "errors" not in body, body["errors"]
    return body["data"]["upsertListings"]


async def withdraw(api: GraphQLClient, key: str | None, ids: list[str]) -> dict[str, Any]:
    return await api.query(WITHDRAW, {"ids": ids}, **(bearer(key) if key else {}))


async def node(api: GraphQLClient, global_id: str) -> Any:
    return (await api.data(NODE, {"id": global_id}))["node"]


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every document of every data collection: what "nothing changed" compares (the
    read barriers count requests, as rate limits do, and say nothing about data)."""
    return {
        name: await db[name].find({}).sort("_id", 1).to_list()
        for name in sorted(await db.list_collection_names())
        if name != READ_BARRIERS
    }


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def type_of(global_id: str) -> str:
    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":")[0]


@pytest.fixture
def ingest_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many batches reached ingestion (the real function runs)."""
    calls: list[int] = []
    real: Callable[..., Awaitable[list[IngestResult]]] = service.partner.service.ingest

    async def counting(*args: Any, **kwargs: Any) -> list[IngestResult]:
        calls.append(len(args[1]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(service.partner.service, "ingest", counting)
    return calls


async def test_a_mixed_batch_stores_the_valid_listings_and_reports_each_in_order(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    invalid = community(
        name="",
        countries=["Russia"],
        foundedYear=900,
        channels=[{"type": "WEBSITE", "url": "not a url"}],
    )
    invalid["name"] = {}
    payload = await upserted(
        fresh_api,
        key,
        [
            {"externalId": "c1", "url": "https://partner.example/c1", "community": community()},
            {"externalId": "e1", "event": event(organizers=["c1"])},
            {"externalId": "s1", "standard": standard(issuer="c1")},
            {"externalId": "bad", "community": invalid},
            {"externalId": "two", "community": community(), "event": event()},
            {"externalId": "none"},
        ],
    )

    results = payload["results"]
    assert [(r["index"], r["externalId"], r["entityType"], r["outcome"]) for r in results] == [
        (0, "c1", "COMMUNITY", "CREATED"),
        (1, "e1", "EVENT", "CREATED"),
        (2, "s1", "STANDARD", "CREATED"),
        (3, "bad", "COMMUNITY", "REJECTED"),
        (4, "two", None, "REJECTED"),
        (5, "none", None, "REJECTED"),
    ]
    assert [type_of(r["entityId"]) for r in results[:3]] == ["Community", "Event", "Standard"]
    assert [r["entityId"] for r in results[3:]] == [None, None, None]
    assert all(r["errors"] == [] for r in results[:3])
    bad_paths = {e["path"] for e in results[3]["errors"]}
    assert bad_paths == {
        "listings.3.community.name",
        "listings.3.community.countries",
        "listings.3.community.foundedYear",
        "listings.3.community.channels.0.url",
    }
    assert [e["path"] for e in results[4]["errors"]] == ["listings.4"]
    assert [e["path"] for e in results[5]["errors"]] == ["listings.5"]
    assert "exactly one" in results[4]["errors"][0]["message"]
    assert (payload["created"], payload["rejected"], payload["updated"]) == (3, 3, 0)

    # Stored and readable through the API by the ids in the results.
    assert (await node(fresh_api, results[0]["entityId"]))["name"] == "Fintech Association"
    assert (await node(fresh_api, results[1]["entityId"]))["title"] == "Fintech meetup"
    assert (await node(fresh_api, results[2]["entityId"]))["code"] == "FT-1"
    [stored_event] = await db[EVENTS].find({}).to_list()
    [stored_community] = await db[COMMUNITIES].find({}).to_list()
    assert stored_event["organizers"] == [stored_community["_id"]]
    assert await db[STANDARDS].count_documents({}) == 1
    states = {d["external_id"]: d["state"] for d in await db[LISTINGS].find({}).to_list()}
    # The refused payload is kept for review; items that never named a kind are not.
    assert states == {"c1": "applied", "e1": "applied", "s1": "applied", "bad": "rejected"}
    assert stored_community["sources"][0]["url"] == "https://partner.example/c1"


async def test_resending_reports_unchanged_and_a_change_updated(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    first = await upserted(fresh_api, key, [{"externalId": "c1", "community": community()}])
    before = await db[COMMUNITIES].find_one({})
    assert before is not None

    again = await upserted(fresh_api, key, [{"externalId": "c1", "community": community()}])
    assert again["results"][0]["outcome"] == "UNCHANGED"
    assert again["results"][0]["entityId"] == first["results"][0]["entityId"]
    assert await db[COMMUNITIES].find_one({}) == before  # not even updated_at moved

    changed = await upserted(
        fresh_api, key, [{"externalId": "c1", "community": community("Fintech Union")}]
    )
    assert changed["results"][0]["outcome"] == "UPDATED"
    assert changed["results"][0]["entityId"] == first["results"][0]["entityId"]
    assert (await node(fresh_api, first["results"][0]["entityId"]))["name"] == "Fintech Union"
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_a_listing_keeps_its_kind_until_withdrawn(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    await upserted(fresh_api, key, [{"externalId": "x", "community": community()}])
    before = await snapshot(db)

    payload = await upserted(fresh_api, key, [{"externalId": "x", "event": event()}])

    [result] = payload["results"]
    assert result["outcome"] == "REJECTED"
    assert [e["path"] for e in result["errors"]] == ["listings.0.externalId"]
    assert await snapshot(db) == before


async def test_the_batch_limit_is_500_and_a_larger_batch_writes_nothing(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    listings = [
        {"externalId": f"c{i}", "community": {**community(f"Guild {i}"), "countries": []}}
        for i in range(501)
    ]
    before = await snapshot(db)

    body = await upsert(fresh_api, key, listings)

    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "at most 500" in body["errors"][0]["message"]
    assert await snapshot(db) == before

    accepted = await upserted(fresh_api, key, listings[:500])
    assert accepted["created"] == 500
    assert await db[LISTINGS].count_documents({}) == 500


SERVER_OWNED = ["id", "slug", "sources", "sourceId", "createdAt", "updatedAt", "withdrawn"]
SERVER_OWNED_ENTITY = [
    *SERVER_OWNED,
    "state",
    "formality",
    "searchTerms",
    "filterTerms",
    "lastEventAt",
    "entityId",
    "madeUp",
]


@pytest.mark.parametrize("field", SERVER_OWNED_ENTITY)
async def test_server_owned_and_unknown_fields_do_not_exist_in_the_input(
    fresh_api: GraphQLClient, db: Database, field: str
) -> None:
    key = await partner_key(db)
    before = await snapshot(db)
    attempts = [
        {"externalId": "c1", "community": {**community(), field: "x"}},
        {"externalId": "c1", "event": {**event(), field: "x"}},
        {"externalId": "c1", "standard": {**standard(), field: "x"}},
    ]
    if field in SERVER_OWNED:
        attempts.append({"externalId": "c1", field: "x", "community": community()})
    for listing in attempts:
        body = await upsert(fresh_api, key, [listing])
        assert "data" not in body
        assert f"unknown field '{field}'" in body["errors"][0]["message"], body
    assert await snapshot(db) == before


async def test_an_unknown_field_in_an_inline_argument_is_a_validation_error(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    before = await snapshot(db)
    query = """mutation { upsertListings(input: {listings: [
        {externalId: "c1", slug: "mine",
         community: {name: {en: "X"}, kind: NATIONAL, form: ASSOCIATION}}]}) { created } }"""

    body = await fresh_api.query(query, **bearer(key))

    assert "data" not in body
    assert "'ListingInput' not to include unknown field 'slug'" in body["errors"][0]["message"]
    assert await snapshot(db) == before


async def test_only_a_partner_may_write(fresh_api: GraphQLClient, db: Database) -> None:
    key = await partner_key(db)
    await upserted(fresh_api, key, [{"externalId": "c1", "community": community()}])
    admin = (await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)).key
    before = await snapshot(db)

    for caller in (None, admin):
        body = await upsert(fresh_api, caller, [{"externalId": "c2", "community": community()}])
        assert body["data"] is None
        assert codes(body) == ["FORBIDDEN"]
        body = await withdraw(fresh_api, caller, ["c1"])
        assert body["data"] is None
        assert codes(body) == ["FORBIDDEN"]
        body = await upsert(
            fresh_api, caller, [{"externalId": "c2", "community": community()}], "k-1"
        )
        assert codes(body) == ["FORBIDDEN"]

    assert await snapshot(db) == before


async def test_a_disabled_partner_source_may_not_write(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    await set_enabled(db, "acme", False)
    before = await snapshot(db)

    body = await upsert(fresh_api, key, [{"externalId": "c1", "community": community()}])

    assert codes(body) == ["FORBIDDEN"]
    assert await snapshot(db) == before


async def test_a_partner_withdraws_only_its_own_listings(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key_a = await partner_key(db, "partner-a")
    key_b = await partner_key(db, "partner-b")
    created = await upserted(
        fresh_api,
        key_a,
        [
            {"externalId": "a1", "community": community("Alpha Guild")},
            {"externalId": "a2", "community": community("Beta Guild")},
        ],
    )
    a1_id = created["results"][0]["entityId"]
    # B's own listing under an id A also uses: a separate record of B's source.
    await upserted(fresh_api, key_b, [{"externalId": "a2", "community": community("B Guild")}])
    before = await snapshot(db)

    body = await withdraw(fresh_api, key_b, ["a1", "unknown"])

    assert body["data"]["withdrawListings"] == {
        "results": [
            {"index": 0, "externalId": "a1", "outcome": "NOT_FOUND"},
            {"index": 1, "externalId": "unknown", "outcome": "NOT_FOUND"},
        ],
        "withdrawn": 0,
        "notFound": 2,
    }
    assert await snapshot(db) == before

    body = await withdraw(fresh_api, key_a, ["a1", "unknown", "a1"])

    assert [r["outcome"] for r in body["data"]["withdrawListings"]["results"]] == [
        "WITHDRAWN",
        "NOT_FOUND",
        "WITHDRAWN",
    ]
    assert await node(fresh_api, a1_id) is None
    listing = await db[LISTINGS].find_one({"source_id": "partner-a", "external_id": "a1"})
    assert listing is not None
    assert listing["state"] == "withdrawn"
    # A's other listing and B's listing with the same id are untouched.
    names = sorted(d["name"]["en"] for d in await db[COMMUNITIES].find({}).to_list())
    assert names == ["B Guild", "Beta Guild"]

    again = await withdraw(fresh_api, key_a, ["a1"])  # a retry changes nothing more
    assert again["data"]["withdrawListings"]["withdrawn"] == 1

    too_many = await withdraw(fresh_api, key_a, [f"x{i}" for i in range(501)])
    assert codes(too_many) == ["BAD_USER_INPUT"]


async def test_an_entity_two_partners_share_survives_one_withdrawal(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key_a = await partner_key(db, "partner-a")
    key_b = await partner_key(db, "partner-b")
    inn = [{"scheme": "inn", "value": "7704123456"}]
    from_a = await upserted(
        fresh_api, key_a, [{"externalId": "a-1", "community": community(identifiers=inn)}]
    )
    from_b = await upserted(
        fresh_api, key_b, [{"externalId": "b-9", "community": community(identifiers=inn)}]
    )
    shared = from_a["results"][0]["entityId"]
    assert from_b["results"][0]["entityId"] == shared
    assert len((await node(fresh_api, shared))["sources"]) == 2

    await withdraw(fresh_api, key_b, ["b-9"])

    assert (await node(fresh_api, shared))["sources"] == [
        {"sourceId": "partner-a", "externalId": "a-1"}
    ]
    await withdraw(fresh_api, key_a, ["a-1"])
    assert await node(fresh_api, shared) is None


async def test_an_idempotent_retry_replays_the_first_response_without_writing(
    fresh_api: GraphQLClient, db: Database, ingest_calls: list[int]
) -> None:
    key = await partner_key(db)
    first = await upsert(fresh_api, key, [{"externalId": "c1", "community": community()}], "k-1")
    assert first["data"]["upsertListings"]["results"][0]["outcome"] == "CREATED"
    # Someone changes the listing meanwhile; a replay must not write the old one back.
    await upserted(fresh_api, key, [{"externalId": "c1", "community": community("Renamed")}])
    before = await snapshot(db)
    calls = len(ingest_calls)

    retry = await upsert(fresh_api, key, [{"externalId": "c1", "community": community()}], "k-1")

    assert retry == first
    assert len(ingest_calls) == calls
    assert await snapshot(db) == before
    record = await db[IDEMPOTENCY].find_one({})
    assert record is not None
    assert record["state"] == "done"
    assert record["source_id"] == "acme"


async def test_reusing_a_key_for_another_request_is_refused(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    await upsert(fresh_api, key, [{"externalId": "c1", "community": community()}], "k-1")
    before = await snapshot(db)

    body = await upsert(
        fresh_api, key, [{"externalId": "c1", "community": community("Other")}], "k-1"
    )

    assert body["data"] is None
    assert codes(body) == ["IDEMPOTENCY_KEY_REUSED"]
    assert await snapshot(db) == before

    # Keys belong to their caller: another partner's "k-1" is a different key.
    other = await partner_key(db, "other")
    body = await upsert(
        fresh_api, other, [{"externalId": "c1", "community": community("Other")}], "k-1"
    )
    assert body["data"]["upsertListings"]["created"] == 1


async def test_concurrent_requests_with_one_key_write_once(
    fresh_api: GraphQLClient, db: Database, ingest_calls: list[int]
) -> None:
    key = await partner_key(db)
    listings = [
        {"externalId": "c1", "community": community()},
        {"externalId": "e1", "event": event(organizers=["c1"])},
    ]

    bodies = await asyncio.gather(*(upsert(fresh_api, key, listings, "k-20") for _ in range(20)))

    assert ingest_calls == [2]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["data"]["upsertListings"]["created"] == 2
    assert await db[LISTINGS].count_documents({}) == 2
    assert await db[IDEMPOTENCY].count_documents({}) == 1


async def test_32_concurrent_upserts_of_one_listing_make_one_entity(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    listing = {"externalId": "c1", "community": community(website="https://fintech.example")}

    bodies = await asyncio.gather(*(upsert(fresh_api, key, [listing]) for _ in range(32)))

    assert [codes(body) for body in bodies] == [[]] * 32
    results = [body["data"]["upsertListings"]["results"][0] for body in bodies]
    assert {r["outcome"] for r in results} <= {"CREATED", "UPDATED", "UNCHANGED"}
    assert len({r["entityId"] for r in results}) == 1
    assert await db[LISTINGS].count_documents({}) == 1
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_control_and_bidi_characters_are_removed_or_the_listing_refused(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    # U+202E would make the alias read "gnp.exe" backwards; the rest are invisible.
    dirty = community(
        name="Fintech\u202e Asso\x00ciation\u2066",
        aliases=["\u202eexe.gnp", "АРИ\x7f"],
        description={"en": "First line\r\nsecond\x1b[31m line\u0085"},
        tags=["fin\u2069tech"],
    )
    emptied = community(name="\u202e\u202c\x07")
    emptied["name"] = {"en": "\u202e\u202c\x07"}
    spoofed = community(website="https://partner.example/\u202etxt.exe")
    results = (
        await upserted(
            fresh_api,
            key,
            [
                {"externalId": "dirty", "community": dirty},
                {"externalId": "emptied", "community": emptied},
                {"externalId": "spoofed", "community": spoofed},
            ],
        )
    )["results"]

    assert [r["outcome"] for r in results] == ["CREATED", "REJECTED", "REJECTED"]
    assert results[1]["errors"] == [
        {"path": "listings.1.community.name", "message": ANY_TEXT_NEEDED}
    ]
    assert [e["path"] for e in results[2]["errors"]] == ["listings.2.community.website"]
    assert "U+202E" in results[2]["errors"][0]["message"]
    [stored] = await db[COMMUNITIES].find({}).to_list()
    assert stored["name"] == {"en": "Fintech Association", "ru": "Ассоциация"}
    assert stored["aliases"] == ["exe.gnp", "АРИ"]
    assert stored["description"] == {"en": "First line\nsecond[31m line"}
    assert stored["tags"] == ["fintech"]


ANY_TEXT_NEEDED = "Value error, needs text in at least one of 'ru' or 'en'"


DATE_HINT = "is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"


@pytest.mark.parametrize(
    ("field", "junk"),
    [("startsAt", "yesterday"), ("endsAt", "2026-13-45T99:00"), ("startsAt", "10.12.2026")],
)
async def test_a_junk_date_is_refused_in_plain_words_naming_the_field(
    fresh_api: GraphQLClient, db: Database, field: str, junk: str
) -> None:
    key = await partner_key(db)

    body = await upsert(fresh_api, key, [{"externalId": "e1", "event": event(**{field: junk})}])

    [error] = body["errors"]
    assert error["message"] == (
        f"Variable '$input' has invalid value at .listings[0].event.{field}: {junk!r} {DATE_HINT}"
    )
    assert await db[EVENTS].count_documents({}) == 0


async def test_a_junk_date_written_inline_names_its_field_and_place(
    fresh_api: GraphQLClient, db: Database
) -> None:
    key = await partner_key(db)
    mutation = """mutation {
  upsertListings(input: {listings: [{externalId: "e1", event: {
    title: {en: "Meetup"}, format: MEETUP, attendanceMode: ONLINE,
    startsAt: "yesterday"}}]}) { created }
}"""

    body = await fresh_api.query(mutation, **bearer(key))

    [error] = body["errors"]
    assert error["message"] == f"input.listings[0].event.startsAt: 'yesterday' {DATE_HINT}"
    assert error["locations"] == [{"line": 4, "column": 15}]
