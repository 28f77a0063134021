"""The query cost limit: computed from the document and its variables before anything
runs, against a budget per caller role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import parse

from schema.cost import CostBudgets, query_cost
from schema.principal import Role
from schema.root import build_schema
from service.auth.keys import create_key
from service.storage.collections import Database
from service.sync.sources import SourceSpec, add_source
from tests.conftest import REPO, TEST_KEY_SECRET, GraphQLClient, client_for, settings_for

THIRTY_COUNTS = (
    "{ " + " ".join(f"c{i}: communities(first: 100) {{ totalCount }}" for i in range(30)) + " }"
)


def _cost(document: str, variables: dict[str, Any] | None = None) -> int:
    return query_cost(build_schema()._schema, parse(document), variables)


def _readme_showcase() -> str:
    section = (REPO / "README.md").read_text().split("## Example: the showcase query", 1)[1]
    return section.split("```graphql\n", 1)[1].split("```", 1)[0]


async def test_thirty_aliased_total_counts_are_refused_with_their_cost(
    demo_http: httpx.AsyncClient,
) -> None:
    response = await demo_http.post("/graphql", json={"query": THIRTY_COUNTS})
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body  # refused before execution
    (error,) = body["errors"]
    assert error["message"] == "query cost 6030 exceeds the limit 5000 for anonymous callers"
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 6030, "limit": 5000}
    strict = await demo_http.post(
        "/graphql",
        json={"query": THIRTY_COUNTS},
        headers={"accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400


async def test_the_readme_showcase_query_passes_comfortably(api: GraphQLClient) -> None:
    showcase = _readme_showcase()
    assert _cost(showcase, {"industry": "energy"}) <= CostBudgets().anonymous // 4
    data = await api.data(showcase, {"industry": "energy"})
    assert data["communities"]["totalCount"] == len(data["communities"]["edges"]) > 0
    assert data["facets"]["communities"]["byKind"]


def test_objects_pages_and_scans_are_weighed() -> None:
    assert _cost("{ industries { code } }") == 10  # a list without a page size: 10 items
    assert _cost("{ communities(first: 100) { totalCount } }") == 1 + 200
    assert _cost("{ communities(first: 7) { edges { node { slug } } } }") == 1 + 7 * 2
    assert _cost("{ communities { pageInfo { hasNextPage } } }") == 1 + 1
    assert _cost("{ facets { communities { byKind { count } } } }") == 1 + 200 + 10
    assert _cost("{ __schema { types { fields { name } } } }") == 0
    # A page larger than the maximum is refused by its resolver: it costs the maximum.
    assert _cost("{ communities(first: 1000) { edges { cursor } } }") == 1 + 100


def test_nested_pages_multiply_through() -> None:
    def nested(outer: int, inner: int) -> str:
        return f"""{{ communities(first: {outer}) {{ edges {{ node {{
            events(first: {inner}) {{ edges {{ node {{ id organizers {{ slug }} }} }} }}
        }} }} }} }}"""

    # communities: 1 + outer * (edge + node + events page + inner * (edge + node + 10))
    assert _cost(nested(10, 5)) == 1 + 10 * (1 + 1 + 1 + 5 * (1 + 1 + 10))
    assert _cost(nested(10, 10)) == 1 + 10 * (1 + 1 + 1 + 10 * 12)
    assert _cost(nested(20, 10)) == 1 + 20 * (1 + 1 + 1 + 10 * 12)
    counts = "{ communities(first: 10) { edges { node { events(first: 1) { totalCount } } } } }"
    assert _cost(counts) == 1 + 10 * (1 + 1 + 1 + 200)


def test_aliases_and_fragment_spreads_each_count() -> None:
    one = "{ communities(first: 5) { totalCount } }"
    two = "{ a: communities(first: 5) { totalCount } b: communities(first: 5) { totalCount } }"
    assert _cost(two) == 2 * _cost(one)
    spread = """{ a: communities(first: 5) { ...Count } b: communities(first: 5) { ...Count } }
        fragment Count on CommunityConnection { totalCount edges { node { ...Slug } } }
        fragment Slug on Community { slug parent { slug } }"""
    assert _cost(spread) == 2 * (1 + 200 + 5 * (1 + 1 + 1))


def test_variables_give_the_page_size() -> None:
    query = """query($n: Int) { communities(first: $n) { edges { node {
        events(first: $n) { totalCount } } } } }"""
    assert _cost(query, {"n": 2}) == 1 + 2 * (1 + 1 + 1 + 200)
    assert _cost(query, {"n": 10}) == 1 + 10 * (1 + 1 + 1 + 200)
    assert _cost(query) == 1 + 20 * (1 + 1 + 1 + 200)  # absent: the default page of 20
    defaulted = "query($n: Int = 3) { communities(first: $n) { edges { cursor } } }"
    assert _cost(defaulted) == 1 + 3
    assert _cost(defaulted, {"n": 50}) == 1 + 50


async def test_a_variable_page_size_can_take_a_query_over_the_limit(api: GraphQLClient) -> None:
    query = """query($n: Int) { communities(first: $n) { edges { node {
        slug events(first: 1) { totalCount } } } } }"""
    small = await api.query(query, {"n": 10})  # 1 + 10 * 203 = 2031
    assert "errors" not in small, small
    large = await api.query(query, {"n": 30})  # 1 + 30 * 203 = 6091
    assert large["errors"][0]["message"] == (
        "query cost 6091 exceeds the limit 5000 for anonymous callers"
    )


@pytest.fixture
async def budgeted(
    mongo_uri: str, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    await add_source(
        db, SourceSpec(id="acme", name="ACME", family="partner", kind="push", config={})
    )
    secret = TEST_KEY_SECRET.encode()
    keys = {
        "partner": (await create_key(db, secret, Role.PARTNER, "acme")).key,
        "admin": (await create_key(db, secret, Role.ADMIN, None)).key,
    }
    settings = settings_for(
        mongo_uri, db.name, cost_limit_anonymous=300, cost_limit_partner=600, cost_limit_admin=2000
    )
    async for client in client_for(settings):
        yield client, keys


async def test_each_role_has_its_own_budget(
    budgeted: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, keys = budgeted
    page = "communities(first: 100) { totalCount edges { node { id } } }"  # 1 + 200 + 200

    async def errors(query: str, caller: str) -> list[str]:
        headers = {"Authorization": f"Bearer {keys[caller]}"} if caller in keys else {}
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        return [error["message"] for error in response.json().get("errors", [])]

    one, two = f"{{ {page} }}", f"{{ a: {page} b: {page} }}"
    assert await errors(one, "anonymous") == [
        "query cost 401 exceeds the limit 300 for anonymous callers"
    ]
    assert await errors(one, "partner") == []
    assert await errors(two, "partner") == [
        "query cost 802 exceeds the limit 600 for partner callers"
    ]
    assert await errors(two, "admin") == []
