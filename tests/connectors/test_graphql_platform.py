from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import orjson
import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError, RetriableError
from connectors.graphql_platform import (
    GraphQLPlatformConfig,
    GraphQLPlatformConnector,
    GraphQLStream,
)
from connectors.net.fetcher import SafeFetcher
from schema.models import ENTITY_DATA, Listing
from schema.taxonomy import EntityType
from tests.connectors.loopback import Loopback, loopback_server

QUERY = """
# Groups near a point, with their next events (Meetup gql-ext style).
query GroupsNear($lat: Float!, $lon: Float!, $query: String!, $first: Int, $after: String) {
  groupSearch(filter: {lat: $lat, lon: $lon, query: $query}, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id name urlname link city country description
        memberships { totalCount }
        upcomingEvents(first: 10) {
          pageInfo { hasNextPage }
          edges { node { id title dateTime endTime eventUrl eventType
                         venue { name address city country } } }
        }
      }
    }
  }
}
"""

GROUPS = {
    "entity": "community",
    "external_id": "id",
    "url": "link",
    "fields": {
        "name.en": "name",
        "description.en": "description",
        "city": "city",
        "countries": {"source": "country", "split": ",", "values": {"ru": "RU"}},
        "website": "link",
        "member_count": "memberships.totalCount",
        "kind": {"value": "professional"},
        "form": {"value": "hackathon_group"},
    },
}
EVENTS = {
    "entity": "event",
    "external_id": "id",
    "url": "eventUrl",
    "fields": {
        "title.en": "title",
        "starts_at": "dateTime",
        "ends_at": "endTime",
        "timezone": {"value": "Europe/Moscow"},
        "format": {"value": "meetup"},
        "attendance_mode": {
            "source": "eventType",
            "values": {"PHYSICAL": "offline", "ONLINE": "online", "HYBRID": "mixed"},
        },
        "venue.name": "venue.name",
        "venue.address": "venue.address",
        "venue.city": "venue.city",
        "venue.country": {"source": "venue.country", "values": {"ru": "RU"}},
        "url": "eventUrl",
    },
}


def config(**overrides: Any) -> GraphQLPlatformConfig:
    base: dict[str, Any] = {
        "url": "http://127.0.0.1:1/gql-ext",
        "query": QUERY,
        "variables": {"lat": 55.75, "lon": 37.62, "query": "tech", "first": 2},
        "connection_path": "groupSearch",
        "mapping": GROUPS,
        "children": {"path": "upcomingEvents", "mapping": EVENTS},
        "headers": {"Authorization": "Bearer meetup-test-token"},
    }
    return GraphQLPlatformConfig.model_validate({**base, **overrides})


def event(
    id_: str | None, title: str, when: str, kind: str = "PHYSICAL", venue: bool = True
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "dateTime": when,
        "endTime": None,
        "eventUrl": f"https://www.meetup.com/e/{id_}/",
        "eventType": kind,
        "venue": {
            "name": "Точка кипения",
            "address": "Малый Конюшковский пер., 2",
            "city": "Москва",
            "country": "ru",
        }
        if venue
        else None,
    }


def group(id_: str | None, name: str, events: list[dict[str, Any]], more: bool = False) -> dict:
    return {
        "id": id_,
        "name": name,
        "urlname": name.lower().replace(" ", "-"),
        "link": f"https://www.meetup.com/{name.lower().replace(' ', '-')}/",
        "city": "Moscow",
        "country": "ru",
        "description": f"{name}: talks and networking.",
        "memberships": {"totalCount": 1000},
        "upcomingEvents": {
            "pageInfo": {"hasNextPage": more},
            "edges": [{"node": e} for e in events],
        },
    }


# after -> (groups on that page, endCursor, hasNextPage), as Meetup's Relay cursors look.
PAGES: dict[str | None, tuple[list[dict[str, Any]], str, bool]] = {
    None: (
        [
            group(
                "101",
                "Moscow Python",
                [
                    event("1001", "Python 3.13 internals", "2025-03-12T19:00+03:00"),
                    event("1002", "Typing in practice", "2025-03-26T19:00+03:00", "ONLINE", False),
                ],
            ),
            group(
                "102",
                "Data Science Moscow",
                [
                    event("1003", "Feature stores", "2025-03-20T18:30+03:00", "HYBRID"),
                ],
            ),
        ],
        "Y3Vyc29yOjI=",
        True,
    ),
    "Y3Vyc29yOjI=": (
        [
            group("103", "Moscow Golang", []),
            group(
                None,
                "Nameless Ids",
                [
                    event("1004", "Orphan talk", "2025-04-01T19:00+03:00", "ONLINE", False),
                ],
            ),
        ],
        "Y3Vyc29yOjQ=",
        True,
    ),
    "Y3Vyc29yOjQ=": (
        [
            group(
                "105",
                "Moscow DevOps",
                [
                    event("1005", "Kubernetes upgrades", "2025-04-09T19:00+03:00"),
                    event(None, "An event without an id", "2025-04-10T19:00+03:00"),
                ],
                more=True,
            ),
        ],
        "Y3Vyc29yOjU=",
        False,
    ),
}


def graphql_result(after: str | None) -> dict[str, Any]:
    groups, end, has_next = PAGES[after]
    return {
        "data": {
            "groupSearch": {
                "totalCount": 5,
                "pageInfo": {"hasNextPage": has_next, "endCursor": end},
                "edges": [{"cursor": g["id"], "node": copy.deepcopy(g)} for g in groups],
            }
        }
    }


@dataclass
class Seen:
    variables: list[dict[str, Any]]
    authorization: list[str | None]


def meetup_api(
    answer: Callable[[str | None], dict[str, Any]] = graphql_result,
) -> tuple[Callable[[Request], Response], Seen]:
    """A POST /gql-ext handler: reads `variables.after` and answers that page."""
    seen = Seen([], [])

    def handle(request: Request) -> Response:
        # Loopback routes are sync (run in a worker thread); the body is read on the loop.
        body = orjson.loads(anyio.from_thread.run(request.body))
        assert request.method == "POST"
        assert "$after: String" in body["query"]
        seen.variables.append(body["variables"])
        seen.authorization.append(request.headers.get("authorization"))
        return Response(
            orjson.dumps(answer(body["variables"]["after"])), media_type="application/json"
        )

    return handle, seen


@asynccontextmanager
async def platform(
    fetcher: SafeFetcher,
    answer: Callable[[str | None], dict[str, Any]] = graphql_result,
    **overrides: Any,
) -> AsyncIterator[tuple[GraphQLStream, Seen, Loopback]]:
    handle, seen = meetup_api(answer)
    async with loopback_server({"/gql-ext": handle}) as server:
        cfg = config(url=server.url("/gql-ext"), **overrides)
        (stream,) = GraphQLPlatformConnector("meetup", cfg, fetcher).streams()
        yield stream, seen, server


async def collect(stream: GraphQLStream, state: dict[str, Any] | None = None) -> list[Emitted]:
    return [item async for item in stream.records(state)]


def keys(items: list[Emitted]) -> list[tuple[str, str]]:
    return [(x.entity.value, x.external_id) for x in items if isinstance(x, Listing)]


async def test_pages_through_groups_and_their_events(fetcher: SafeFetcher) -> None:
    async with platform(fetcher) as (stream, seen, _):
        items = await collect(stream)

    assert keys(items) == [
        ("community", "101"),
        ("event", "1001"),
        ("event", "1002"),
        ("community", "102"),
        ("event", "1003"),
        ("community", "103"),
        ("event", "1004"),
        ("community", "105"),
        ("event", "1005"),
    ]
    listings = {x.external_id: x for x in items if isinstance(x, Listing)}
    for listing in listings.values():  # what the mappings make is what ingestion accepts
        ENTITY_DATA[listing.entity].model_validate(listing.payload)
    assert listings["1001"].payload["organizers"] == ["101"]
    assert listings["1003"].payload["attendance_mode"] == "mixed"
    assert listings["1004"].payload.get("organizers") is None  # its group had no id
    assert listings["101"].payload["member_count"] == 1000
    assert listings["101"].url == "https://www.meetup.com/moscow-python/"

    rejected = [x for x in items if isinstance(x, Rejected)]
    assert [r.reason for r in rejected] == [
        "page 2 node 1: no value for the external id (id)",
        "page 3 node 0 upcomingEvents 1: no value for the external id (id)",
    ]
    checkpoints = [x.state for x in items if isinstance(x, Checkpoint)]
    assert checkpoints == [{"after": "Y3Vyc29yOjI="}, {"after": "Y3Vyc29yOjQ="}, {}]
    assert items[-1] == Checkpoint({})
    assert [v["after"] for v in seen.variables] == [None, "Y3Vyc29yOjI=", "Y3Vyc29yOjQ="]
    assert all(v["first"] == 2 and v["query"] == "tech" for v in seen.variables)
    assert seen.authorization == ["Bearer meetup-test-token"] * 3


async def test_each_checkpoint_follows_its_page(fetcher: SafeFetcher) -> None:
    async with platform(fetcher) as (stream, _, _):
        items = await collect(stream)
    first = next(i for i, x in enumerate(items) if isinstance(x, Checkpoint))
    assert keys(items[:first]) == [
        ("community", "101"),
        ("event", "1001"),
        ("event", "1002"),
        ("community", "102"),
        ("event", "1003"),
    ]


async def test_resumes_from_a_checkpointed_cursor(fetcher: SafeFetcher) -> None:
    async with platform(fetcher) as (stream, seen, _):
        items = await collect(stream, {"after": "Y3Vyc29yOjI="})
    assert [v["after"] for v in seen.variables] == ["Y3Vyc29yOjI=", "Y3Vyc29yOjQ="]
    assert keys(items)[0] == ("community", "103")
    assert ("community", "101") not in keys(items)
    assert items[-1] == Checkpoint({})


async def test_a_corrupt_checkpoint_is_fatal(fetcher: SafeFetcher) -> None:
    async with platform(fetcher) as (stream, seen, _):
        with pytest.raises(FatalError, match="'after' must be a string"):
            await collect(stream, {"after": 7})
    assert seen.variables == []


async def test_the_same_end_cursor_twice_is_a_loop(fetcher: SafeFetcher) -> None:
    def stuck(after: str | None) -> dict[str, Any]:
        result = graphql_result(None)  # a server that ignores `after`
        return result

    emitted: list[Emitted] = []

    async def run(stream: GraphQLStream) -> None:
        async for item in stream.records(None):
            emitted.append(item)

    async with platform(fetcher, stuck) as (stream, seen, _):
        with pytest.raises(FatalError, match="pagination loop: endCursor 'Y3Vyc29yOjI='"):
            await run(stream)
    assert len(seen.variables) == 2
    # The repeated page is not emitted again.
    assert [k for k in keys(emitted) if k[0] == "community"] == [
        ("community", "101"),
        ("community", "102"),
    ]


async def test_a_resumed_cursor_coming_back_is_a_loop(fetcher: SafeFetcher) -> None:
    async with platform(fetcher, lambda after: graphql_result(None)) as (stream, _, _):
        with pytest.raises(FatalError, match="pagination loop"):
            await collect(stream, {"after": "Y3Vyc29yOjI="})


async def test_graphql_errors_are_fatal(fetcher: SafeFetcher) -> None:
    def broken(after: str | None) -> dict[str, Any]:
        return {
            "data": None,
            "errors": [
                {
                    "message": "Cannot query field 'upcomingEvnts' on type 'Group'.",
                    "locations": [{"line": 12, "column": 9}],
                    "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                }
            ],
        }

    async with platform(fetcher, broken) as (stream, _, _):
        with pytest.raises(FatalError, match="Cannot query field 'upcomingEvnts'"):
            await collect(stream)


async def test_errors_with_partial_data_are_fatal_too(fetcher: SafeFetcher) -> None:
    def partial(after: str | None) -> dict[str, Any]:
        result = graphql_result(after)
        result["errors"] = [{"message": "Internal error", "path": ["groupSearch", "edges", 1]}]
        return result

    async with platform(fetcher, partial) as (stream, _, _):
        with pytest.raises(FatalError, match=r"groupSearch\.edges\.1: Internal error"):
            await collect(stream)


async def test_rate_limiting_is_retriable(fetcher: SafeFetcher) -> None:
    def limited(after: str | None) -> dict[str, Any]:
        error = {
            "message": "Too many requests, please try again shortly.",
            "extensions": {"code": "RATE_LIMITED", "retryAfter": 30},
        }
        return {"data": None, "errors": [error]}

    async with platform(fetcher, limited) as (stream, _, _):
        with pytest.raises(RetriableError, match="rate limiting") as caught:
            await collect(stream)
    assert caught.value.retry_after == 30


async def test_a_wrong_connection_path_is_fatal(fetcher: SafeFetcher) -> None:
    async with platform(fetcher, connection_path="keywordSearch") as (stream, _, _):
        with pytest.raises(FatalError, match="connection_path 'keywordSearch'"):
            await collect(stream)


async def test_children_not_in_the_query_are_a_configuration_error(
    fetcher: SafeFetcher,
) -> None:
    children = {"path": "pastEvents", "mapping": EVENTS}
    async with platform(fetcher, children=children) as (stream, _, _):
        with pytest.raises(FatalError, match=r"children\.path 'pastEvents'"):
            await collect(stream)


async def test_nodes_without_children_mapping(fetcher: SafeFetcher) -> None:
    async with platform(fetcher, children=None) as (stream, _, _):
        items = await collect(stream)
    assert {k[0] for k in keys(items)} == {EntityType.COMMUNITY.value}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"query": "query ($first: Int) { groupSearch(first: $first) { totalCount } }"},
            "query",
            "must declare the variable `$after: String`",
        ),
        (
            {"query": "query ($after: String!) { groupSearch(after: $after) { totalCount } }"},
            "query",
            "must be nullable",
        ),
        (
            {"query": "# $after: String\nquery { groupSearch { totalCount } }"},
            "query",
            "must declare the variable",
        ),
        (
            {"query": "mutation ($after: String) { joinGroup(id: $after) { id } }"},
            "query",
            "must be a query",
        ),
        ({"variables": {"after": "x"}}, "variables", "set by the connector"),
        ({"url": "ftp://api.meetup.com"}, "url", "should match pattern"),
        (
            {"children": {"path": "upcomingEvents", "mapping": EVENTS, "parent_field": "tags"}},
            "children.parent_field",
            "through organizers",
        ),
        ({"connection_path": ""}, "connection_path", "at least 1 character"),
    ],
)
def test_bad_configuration_names_the_field(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        config(**overrides)
    (error,) = caught.value.errors()
    assert ".".join(map(str, error["loc"])) == field
    assert message in error["msg"]


def test_headers_are_secret() -> None:
    assert "meetup-test-token" not in repr(config())
