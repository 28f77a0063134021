"""HTTP caching: Cache-Control, ETags, 304s and Vary on every answer, and a real HTTP
cache (hishel) in front of a real server serving a repeated GET by itself."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hishel
import httpx
import pytest
import uvicorn
from hishel.httpx import CacheClient
from starlette.applications import Starlette

from schema.principal import Role
from service.api.app import create_app
from service.api.http_caching import not_modified, wants_fresh
from service.auth.keys import create_key
from service.settings import ReadConsistency
from service.storage.collections import Database
from tests.conftest import TEST_KEY_SECRET, client_for, settings_for

SLUG = '{ community(slug: "skolkovo-innovation-center") { slug name } }'
PUBLIC = "public, max-age=5, stale-while-revalidate=5"
VARY = "Accept, Accept-Language, Authorization"


async def get(http: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await http.get("/graphql", params={"query": query}, headers=headers)


async def test_an_anonymous_query_is_public_with_an_etag(demo_http: httpx.AsyncClient) -> None:
    response = await get(demo_http, SLUG)
    assert response.status_code == 200
    assert response.headers["cache-control"] == PUBLIC
    assert response.headers["vary"] == VARY
    assert response.headers["etag"].startswith('"')
    posted = await demo_http.post("/graphql", json={"query": SLUG})
    assert posted.headers["etag"] == response.headers["etag"]  # one answer, GET or POST


async def test_a_matching_if_none_match_gets_304_without_a_body(
    demo_http: httpx.AsyncClient,
) -> None:
    first = await get(demo_http, SLUG)
    etag = first.headers["etag"]
    for headers in ({}, {"cache-control": "no-cache"}):  # from the cache, and executed afresh
        again = await get(demo_http, SLUG, **{"if-none-match": f'"other", {etag}'}, **headers)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == PUBLIC
        assert again.headers["vary"] == VARY
    changed = await get(demo_http, SLUG, **{"if-none-match": '"not-this-one"'})
    assert changed.status_code == 200
    assert changed.content == first.content


async def test_each_media_type_has_its_own_etag(demo_http: httpx.AsyncClient) -> None:
    plain = await get(demo_http, SLUG)
    strict = await get(demo_http, SLUG, accept="application/graphql-response+json")
    assert strict.headers["content-type"].startswith("application/graphql-response+json")
    assert strict.content == plain.content
    assert strict.headers["etag"] != plain.headers["etag"]


async def test_the_smallest_hinted_max_age_wins(demo_http: httpx.AsyncClient) -> None:
    vocabulary = await get(demo_http, "{ industries { code } }")
    assert vocabulary.headers["cache-control"] == ("public, max-age=3600, stale-while-revalidate=5")
    both = await get(demo_http, "{ industries { code } communities(first: 1) { totalCount } }")
    assert both.headers["cache-control"] == PUBLIC


@pytest.fixture
async def keyed(mongo_uri: str, db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = settings_for(mongo_uri, db.name, read_consistency=ReadConsistency.SESSION)
    admin = await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    async for http in client_for(settings):
        yield http, admin.key


async def test_private_no_store_for_keys_mutations_admin_fields_and_errors(
    keyed: tuple[httpx.AsyncClient, str],
) -> None:
    http, key = keyed
    admin = {"authorization": f"Bearer {key}"}
    answers = {
        "an authenticated caller": await http.post(
            "/graphql", json={"query": "{ industries { code } }"}, headers=admin
        ),
        "an admin query": await http.post("/graphql", json={"query": "{ apiKeys { id } }"}),
        "an admin query by an admin": await http.post(
            "/graphql", json={"query": "{ apiKeys { id } }"}, headers=admin
        ),
        "a mutation": await http.post(
            "/graphql", json={"query": 'mutation { revokeApiKey(id: "x") { __typename } }'}
        ),
        "a field error": await http.post(
            "/graphql", json={"query": '{ node(id: "bm9wZTox") { id } }'}
        ),
        "a validation error": await http.post("/graphql", json={"query": "{ nope }"}),
        "a refused request": await http.post("/graphql", json={"query": "{"}),
        "a bad key": await http.post(
            "/graphql",
            json={"query": "{ industries { code } }"},
            headers={"authorization": "Bearer gg_0123456789abcdef_forged"},
        ),
    }
    for what, response in answers.items():
        assert response.headers["cache-control"] == "private, no-store", what
        assert "etag" not in response.headers, what
    assert answers["an admin query"].json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert answers["a field error"].json()["errors"]
    assert answers["a bad key"].status_code == 401


def test_if_none_match_and_request_cache_control_follow_rfc_9110_and_9111() -> None:
    assert not_modified('W/"a", "b"', '"a"')
    assert not_modified("*", '"a"')
    assert not not_modified('"b"', '"a"')
    assert not not_modified(None, '"a"')
    assert wants_fresh("no-cache", None)
    assert wants_fresh("max-age=0", None)
    assert wants_fresh(None, "no-cache")
    assert not wants_fresh("max-age=60", None)
    assert not wants_fresh(None, None)


# --- a real HTTP cache in front of a real server ---------------------------------------


@contextlib.contextmanager
def running(app: Starlette) -> Iterator[str]:
    """The app on uvicorn in a thread of its own (its own event loop), on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 60
        while not server.started or httpx.get(f"{url}/readyz").status_code != 200:
            assert thread.is_alive(), "the server stopped"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def served_requests(url: str) -> float:
    """GraphQL requests the server has answered (its own count, from /metrics)."""
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("guildgraph_graphql_requests_total{")
    )


def test_a_caching_proxy_serves_the_second_get_without_reaching_the_server(
    mongo_uri: str, demo_db: Database, tmp_path: Path
) -> None:
    settings = settings_for(mongo_uri, demo_db.name, read_consistency=ReadConsistency.SESSION)
    storage = hishel.SqliteStorage(database_path=tmp_path / "proxy-cache.sqlite")
    with (
        running(create_app(settings)) as url,
        CacheClient(base_url=url, storage=storage, rfc=hishel.CacheOptions(shared=True)) as proxy,
    ):
        params = {"query": SLUG}
        first = proxy.get("/graphql", params=params)
        assert first.status_code == 200
        assert first.extensions["caching"]["stored"]
        reached = served_requests(url)
        second = proxy.get("/graphql", params=params)
        assert second.extensions["caching"]["from_cache"]
        assert second.content == first.content
        assert served_requests(url) == reached  # the server never saw it
        # Revalidation: the cache asks with If-None-Match and the server answers 304.
        again = proxy.get("/graphql", params=params, headers={"cache-control": "no-cache"})
        assert again.extensions["caching"]["revalidated"]
        assert again.content == first.content
        assert served_requests(url) == reached + 1
        # A caller with a key is never served what the shared cache holds.
        keyed = proxy.get(
            "/graphql",
            params=params,
            headers={"authorization": "Bearer gg_0123456789abcdef_forged"},
        )
        assert keyed.status_code == 401
        assert not keyed.extensions["caching"]["from_cache"]
        assert served_requests(url) == reached + 2
