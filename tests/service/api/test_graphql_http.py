"""GraphQL over HTTP: methods, media types, status codes, malformed bodies, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.storage.collections import Database
from tests.conftest import client_for, settings_for

QUERY = "{ industries { code } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_post_json_returns_data(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert {"code": "it"} in response.json()["data"]["industries"]
    assert response.headers["x-request-id"]


async def test_get_runs_queries(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.get("/graphql", params={"query": QUERY})
    assert response.status_code == 200
    assert response.json()["data"]["industries"]


async def test_get_refuses_mutations_with_405(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.get("/graphql", params={"query": "mutation { x }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "GET" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"query": ', "request body is not valid JSON"),
        (b'{"query": "\xff\xfe"}', "request body is not valid UTF-8"),
        (b"[1, 2]", "the request body must be a JSON object"),
        (b'{"query": 5}', "'query' must be a string"),
        (
            b'{"query": "{ industries { code } }", "variables": [1]}',
            "'variables' must be a JSON object",
        ),
        (b"{}", "'query' is required"),
    ],
)
async def test_malformed_bodies_get_400_with_the_reason(
    demo_http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await demo_http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": message}]}


async def test_wrong_content_type_gets_415(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.post(
        "/graphql", content=QUERY, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


async def test_unacceptable_accept_gets_406(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.post(
        "/graphql", json={"query": QUERY}, headers={"accept": "text/xml"}
    )
    assert response.status_code == 406


async def test_oversized_body_gets_413(demo_http: httpx.AsyncClient) -> None:
    padding = "#" * (1024 * 1024)
    response = await demo_http.post("/graphql", json={"query": QUERY + padding})
    assert response.status_code == 413
    assert "exceeds" in response.json()["errors"][0]["message"]


async def _post(http: httpx.AsyncClient, query: str, accept: str, **extra: Any) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, **extra}, headers={"accept": accept})


async def test_graphql_response_json_status_codes(demo_http: httpx.AsyncClient) -> None:
    ok = await _post(demo_http, QUERY, GRAPHQL_RESPONSE)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    invalid = await _post(demo_http, "{ nosuchfield }", GRAPHQL_RESPONSE)
    assert invalid.status_code == 400
    assert "data" not in invalid.json()
    syntax = await _post(demo_http, "{ industries {", GRAPHQL_RESPONSE)
    assert syntax.status_code == 400
    bad_variable = await _post(
        demo_http,
        "query($n: Int) { communities(first: $n) { totalCount } }",
        GRAPHQL_RESPONSE,
        variables={"n": "many"},
    )
    assert bad_variable.status_code == 400
    field_error = await _post(
        demo_http, "{ communities(first: 101) { totalCount } }", GRAPHQL_RESPONSE
    )
    assert field_error.status_code == 200
    assert "data" in field_error.json()


async def test_application_json_keeps_200_for_graphql_errors(
    demo_http: httpx.AsyncClient,
) -> None:
    invalid = await _post(demo_http, "{ nosuchfield }", "application/json")
    assert invalid.status_code == 200
    assert invalid.json()["errors"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ communities(first: 101) { totalCount } }",
            "'first' must be between 0 and 100, got 101",
        ),
        ("{ communities(last: 500) { totalCount } }", "'last' must be between 0 and 100, got 500"),
        ('{ communities(after: "!!!") { totalCount } }', "'after' is not a valid cursor"),
        ('{ community(id: "bm9wZQ") { id } }', "'id' is not a valid global id"),
        ('{ community(slug: "a", id: "b") { id } }', "pass exactly one of 'id' or 'slug'"),
        (
            '{ communities(filter: {industries: ["alchemy"]}) { totalCount } }',
            "unknown industry code(s) 'alchemy' in 'filter.industries'; see the `industries` query",
        ),
        (
            "{ communities(filter: {foundedYear: {min: 2020, max: 2000}}) { totalCount } }",
            "'filter.foundedYear.min' is greater than its 'max'",
        ),
        (
            "{ events(filter: {near: {lat: 55, lon: 37, radiusKm: -1}}) { totalCount } }",
            "'filter.near.radiusKm' must be above 0 and at most 20000",
        ),
    ],
)
async def test_bad_arguments_name_what_was_wrong(
    demo_http: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await demo_http.post("/graphql", json={"query": query})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert errors[0]["message"] == message
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_cursor_from_another_sort_is_refused(demo_http: httpx.AsyncClient) -> None:
    first = await demo_http.post(
        "/graphql", json={"query": "{ communities(first: 1) { pageInfo { endCursor } } }"}
    )
    cursor = first.json()["data"]["communities"]["pageInfo"]["endCursor"]
    response = await demo_http.post(
        "/graphql",
        json={
            "query": "query($c: String) { events(after: $c) { totalCount } }",
            "variables": {"c": cursor},
        },
    )
    assert "cursor" in response.json()["errors"][0]["message"]


async def test_depth_alias_and_token_limits(demo_http: httpx.AsyncClient) -> None:
    deep = "{ communities { edges { node { " + "parent { " * 12 + "id" + " }" * 12 + " } } } }"
    response = await demo_http.post("/graphql", json={"query": deep})
    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: industries {{ code }}" for i in range(40)) + " }"
    response = await demo_http.post("/graphql", json={"query": aliases})
    assert "aliases found" in response.json()["errors"][0]["message"]
    tokens = "{ " + " ".join("industries { code }" for _ in range(700)) + " }"
    response = await demo_http.post("/graphql", json={"query": tokens})
    assert "more than 2000 tokens" in response.json()["errors"][0]["message"]


async def test_graphiql_is_served_to_browsers_in_dev(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_and_readiness(demo_http: httpx.AsyncClient) -> None:
    assert (await demo_http.get("/healthz")).json() == {"status": "ok"}
    assert (await demo_http.get("/readyz")).json() == {"status": "ready"}
    metrics = (await demo_http.get("/metrics")).text
    assert "guildgraph_db_commands_total" in metrics


@pytest.fixture
async def prod_http(mongo_uri: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_for(settings_for(mongo_uri, db.name, env="prod")):
        yield http


async def test_prod_hides_introspection_graphiql_and_suggestions(
    prod_http: httpx.AsyncClient,
) -> None:
    introspection = await prod_http.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"}
    )
    assert "introspection" in introspection.json()["errors"][0]["message"].lower()
    typo = await prod_http.post("/graphql", json={"query": "{ comunities { totalCount } }"})
    assert "Did you mean" not in typo.json()["errors"][0]["message"]
    page = await prod_http.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in page.text.lower()


async def test_dev_suggests_fields(demo_http: httpx.AsyncClient) -> None:
    typo = await demo_http.post("/graphql", json={"query": "{ comunities { totalCount } }"})
    assert "Did you mean" in typo.json()["errors"][0]["message"]


async def test_unexpected_errors_are_masked_and_logged_once(
    prod_http: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A document no normal write can produce (an unknown kind) makes the resolver fail.
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    await db.communities.insert_one(
        {
            "slug": "broken",
            "name": {"ru": "Сломанное"},
            "kind": "bogus",
            "form": "association",
            "formality": "formal",
            "status": "active",
            "sources": [{"source_id": "t", "external_id": "1", "fetched_at": now}],
            "match_keys": [],
            "created_at": now,
            "updated_at": now,
        }
    )
    with caplog.at_level("ERROR", logger="guildgraph.errors"):
        response = await prod_http.post(
            "/graphql",
            json={"query": '{ community(slug: "broken") { kind } }'},
            headers={"x-request-id": "req-42"},
        )
    errors = response.json()["errors"]
    assert errors[0]["message"] == "Internal server error"
    assert "bogus" not in response.text
    records = [r for r in caplog.records if r.name == "guildgraph.errors"]
    assert len(records) == 1
    assert "req-42" in records[0].getMessage()
