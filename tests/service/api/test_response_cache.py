"""The response cache: what it serves and for how long (a clock of the test's own and
explicit version bumps, so no timing assertions), its byte bound, and, over HTTP, that
a hit costs no database round trip and that answers to keys never reach anyone else."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema.principal import Role
from service.api.change_versions import ChangeVersions
from service.api.metrics import CacheStats, Metrics
from service.api.response_cache import ENTRY_OVERHEAD, Answer, ResponseCache
from service.auth.keys import create_key
from service.read_model import store
from service.settings import ReadConsistency
from service.storage.collections import Database
from tests.conftest import TEST_KEY_SECRET, GraphQLClient, client_for, settings_for
from tests.service.partner.test_partner import community, partner_key, upserted

MAX_STALE_S = 2.0


class Clock:
    """Monotonic time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def read_model(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = store.create(tmp_path / "read_model.sqlite")
    yield connection
    connection.close()


def bump(connection: sqlite3.Connection, *collections: str) -> None:
    """What the applier does when it applies a change: count it, in its transaction."""
    with store.transaction(connection):
        store.mark_changed(connection, collections)


def make_cache(
    read_model: sqlite3.Connection,
    clock: Clock,
    *,
    max_bytes: int = 1 << 20,
    max_stale_s: float = MAX_STALE_S,
    ttl_s: float = 60.0,
) -> ResponseCache:
    versions = ChangeVersions(lambda: read_model, horizon_s=max_stale_s, clock=clock)
    versions.poll()
    return ResponseCache(
        max_bytes,
        versions,
        max_stale_s=max_stale_s,
        ttl_s=ttl_s,
        stats=CacheStats(),
        clock=clock,
    )


def answer_now(cache: ResponseCache, collections: set[str], body: bytes = b"{}") -> Answer:
    """An answer made now: its versions are taken before it is made, as the endpoint does."""
    return Answer(
        body=body,
        status=200,
        media_type="application/json",
        shared=True,
        max_age=5,
        etag='"e"',
        versions=cache.versions.snapshot(frozenset(collections)),
        made_at=cache.clock(),
    )


KEY = b"k" * 32


def test_an_answer_is_served_until_a_change_it_reads_and_an_unrelated_one_keeps_it(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    cache.store(KEY, answer_now(cache, {"communities"}))
    assert cache.lookup(KEY) is not None
    bump(read_model, "events")  # not read by this answer
    cache.versions.poll()
    hit = cache.lookup(KEY)
    assert hit is not None
    assert (hit.max_age, hit.refresh) == (5, False)
    assert (cache.stats.hits, cache.stats.stale_hits) == (2, 0)


def test_after_a_change_an_answer_is_served_only_within_the_bound(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    cache.store(KEY, answer_now(cache, {"communities", "events"}))
    clock.now += 10  # unchanged for long: still current
    cache.versions.poll()
    last_seen_current = clock.now
    clock.now += 0.1
    bump(read_model, "communities")  # applied after the last poll that saw the old version
    cache.versions.poll()
    # Out of date since at most `last_seen_current`: served while that is under the bound,
    # with a max-age shortened by as much, and made again once past half of it.
    clock.now = last_seen_current + 0.5
    early = cache.lookup(KEY)
    assert early is not None
    assert (early.max_age, early.refresh) == (4, False)
    clock.now = last_seen_current + 1.5
    late = cache.lookup(KEY)
    assert late is not None
    assert (late.max_age, late.refresh) == (3, True)
    clock.now = last_seen_current + MAX_STALE_S
    assert cache.lookup(KEY) is None  # the bound: never served again
    assert cache.stats.entries == 0
    assert (cache.stats.hits, cache.stats.stale_hits, cache.stats.misses) == (2, 2, 1)


def test_an_answer_made_during_a_change_is_dated_before_it(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    made = answer_now(cache, {"standards"})  # versions taken, then the answer is made...
    clock.now += 0.05
    bump(read_model, "standards")  # ...while a change is applied
    clock.now += 0.05
    cache.store(KEY, made)
    cache.versions.poll()
    clock.now += MAX_STALE_S - 0.1 + 0.001  # past the bound from the poll that saw it current
    assert cache.lookup(KEY) is None


def test_a_late_poller_confirms_nothing(read_model: sqlite3.Connection) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    cache.store(KEY, answer_now(cache, {"communities"}))
    clock.now += MAX_STALE_S  # no poll for as long as the bound: a change may be unseen
    assert cache.lookup(KEY) is None
    cache.versions.poll()  # nothing changed after all: served again
    assert cache.lookup(KEY) is not None


def test_exact_lookups_serve_only_answers_made_at_the_current_versions(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    cache.store(KEY, answer_now(cache, {"events"}))
    clock.now += 30  # exact lookups poll themselves: no poll interval to trust
    assert cache.lookup(KEY, exact=True) is not None
    bump(read_model, "events")
    cache.versions.poll()
    assert cache.lookup(KEY, exact=True) is None


def test_answers_expire_after_their_ttl_whatever_the_data_does(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock, ttl_s=60)
    cache.store(KEY, answer_now(cache, set()))
    clock.now += 59
    cache.versions.poll()
    assert cache.lookup(KEY) is not None
    clock.now += 1
    cache.versions.poll()
    assert cache.lookup(KEY) is None


def test_the_cache_stays_within_its_byte_bound(read_model: sqlite3.Connection) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock, max_bytes=10 * (1000 + ENTRY_OVERHEAD))
    for n in range(100):
        cache.store(n.to_bytes(32, "big"), answer_now(cache, set(), b"x" * 1000))
        assert cache.stats.bytes <= cache.max_bytes
    assert cache.stats.entries == 10
    assert cache.stats.evictions == 90
    # Least recently used out first: the last ten are there.
    assert cache.lookup((99).to_bytes(32, "big")) is not None
    assert cache.lookup((89).to_bytes(32, "big")) is None


async def test_concurrent_misses_of_one_key_make_one_answer(
    read_model: sqlite3.Connection,
) -> None:
    clock = Clock()
    cache = make_cache(read_model, clock)
    made = 0
    release = asyncio.Event()

    async def produce() -> Answer:
        nonlocal made
        made += 1
        await release.wait()
        return answer_now(cache, set())

    waiting = [asyncio.create_task(cache.make(KEY, produce)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert made == 1
    assert all(a is answers[0] for a in answers)
    assert cache.stats.coalesced == 4


async def simulate_sync(read_model: sqlite3.Connection, max_stale_s: float) -> tuple[float, int]:
    """20 simulated seconds of one hot query asked every 10 ms while a sync applies a
    change to what it reads every 200 ms; the poller reads every 100 ms. The hit rate and
    how many times the answer was made."""
    clock = Clock()
    cache = make_cache(read_model, clock, max_stale_s=max_stale_s)
    made = 0

    async def produce() -> Answer:
        nonlocal made
        made += 1
        return answer_now(cache, {"communities"})

    for tick in range(2000):  # 10 ms each
        clock.now += 0.01
        if tick % 20 == 0:
            bump(read_model, "communities")
        if tick % 10 == 0:
            cache.versions.poll()
        hit = cache.lookup(KEY)
        if hit is None:
            await cache.make(KEY, produce)
        elif hit.refresh:
            cache.refresh(KEY, produce)
        await asyncio.sleep(0)  # a refresh runs between requests
    stats = cache.stats
    return stats.hits / (stats.hits + stats.misses), made


async def test_a_sync_writing_all_the_time_leaves_the_hot_answers_cached(
    read_model: sqlite3.Connection,
) -> None:
    hit_rate, made = await simulate_sync(read_model, max_stale_s=MAX_STALE_S)
    # Made again in the background about once per half bound (1 s): no request waits.
    assert hit_rate > 0.99
    assert made <= 22
    # Invalidated at every change instead (a bound shorter than the changes' spacing),
    # every request after a change waits for a new answer.
    exact_rate, exact_made = await simulate_sync(read_model, max_stale_s=0.05)
    assert exact_made > 4 * made
    assert exact_rate < hit_rate


# --- over HTTP ---------------------------------------------------------------------------

SLUG_QUERY = "query($slug: String!) { community(slug: $slug) { slug name kind } }"
SKOLKOVO = {"slug": "skolkovo-innovation-center"}


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
async def cached(
    mongo_uri: str, demo_db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Metrics]]:
    """The demo API as production reads (no barrier per request), rate limits on."""
    metrics = Metrics()
    settings = settings_for(
        mongo_uri,
        demo_db.name,
        read_consistency=ReadConsistency.SESSION,
        rate_limit_per_address=100_000,
    )
    async for http in client_for(settings, metrics):
        yield http, metrics


def request_commands(metrics: Metrics) -> int:
    return sum(metrics.request_db_commands.values())


async def test_a_hit_does_no_database_round_trip_rate_limiting_included(
    cached: tuple[httpx.AsyncClient, Metrics],
) -> None:
    http, metrics = cached
    first = await post(http, SLUG_QUERY, SKOLKOVO)
    before = request_commands(metrics)
    again = await post(http, SLUG_QUERY, SKOLKOVO)
    assert request_commands(metrics) == before
    assert again.content == first.content
    assert metrics.response_cache.hits >= 1
    text = (await http.get("/metrics")).text
    for name in ("hits", "misses", "evictions", "stale_hits", "coalesced", "refreshes"):
        assert f"guildgraph_response_cache_{name}_total " in text
    for gauge in ("bytes", "entries", "max_bytes"):
        assert f"guildgraph_response_cache_{gauge} " in text


async def test_counting_every_request_in_mongodb_costs_a_round_trip(
    mongo_uri: str, demo_db: Database
) -> None:
    """The comparison for the test above: with `flush_s` 0 even a hit pays for its
    rate-limit counter."""
    metrics = Metrics()
    settings = settings_for(
        mongo_uri,
        demo_db.name,
        read_consistency=ReadConsistency.SESSION,
        rate_limit_per_address=100_000,
        rate_limit_flush_s=0,
    )
    async for http in client_for(settings, metrics):
        await post(http, SLUG_QUERY, SKOLKOVO)
        before = request_commands(metrics)
        await post(http, SLUG_QUERY, SKOLKOVO)
        assert request_commands(metrics) == before + 1


async def test_two_languages_get_two_entries(cached: tuple[httpx.AsyncClient, Metrics]) -> None:
    http, metrics = cached
    entries = metrics.response_cache.entries
    ru = await post(http, SLUG_QUERY, SKOLKOVO, **{"accept-language": "ru"})
    en = await post(http, SLUG_QUERY, SKOLKOVO, **{"accept-language": "en-GB,en;q=0.9"})
    assert ru.json()["data"]["community"]["name"] == "Сколково"
    assert en.json()["data"]["community"]["name"] == "Skolkovo Innovation Center"
    assert ru.headers["etag"] != en.headers["etag"]
    assert metrics.response_cache.entries == entries + 2
    hits = metrics.response_cache.hits
    again = await post(http, SLUG_QUERY, SKOLKOVO, **{"accept-language": "en"})
    assert again.content == en.content
    assert metrics.response_cache.hits == hits + 1


async def test_no_cache_executes_afresh_and_keeps_the_new_answer(
    cached: tuple[httpx.AsyncClient, Metrics],
) -> None:
    http, metrics = cached
    await post(http, SLUG_QUERY, {"slug": "digital-breakthrough"})
    stats = metrics.response_cache
    hits, misses = stats.hits, stats.misses
    fresh = await post(
        http, SLUG_QUERY, {"slug": "digital-breakthrough"}, **{"cache-control": "no-cache"}
    )
    assert (stats.hits, stats.misses) == (hits, misses)  # not even looked up
    assert fresh.headers["cache-control"].startswith("public")
    await post(http, SLUG_QUERY, {"slug": "digital-breakthrough"})
    assert stats.hits == hits + 1


async def test_a_flood_of_distinct_queries_stays_within_the_byte_bound(
    mongo_uri: str, demo_db: Database
) -> None:
    metrics = Metrics()
    settings = settings_for(mongo_uri, demo_db.name, cache_bytes=16 * 1024)
    async for http in client_for(settings, metrics):
        for n in range(150):
            await post(http, SLUG_QUERY, {"slug": f"no-such-community-{n}"})
            assert metrics.response_cache.bytes <= 16 * 1024
        assert metrics.response_cache.evictions > 0
        assert 0 < metrics.response_cache.entries < 150


SEARCH = "query($q: String!) { communities(search: $q, first: 5) { edges { node { slug } } } }"


@pytest.fixture
async def session_http(
    mongo_uri: str, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Metrics]]:
    """The API over this test's own database, as production reads, with no staleness
    allowed (each hit checks the versions at once), so "the next read" is deterministic."""
    metrics = Metrics()
    settings = settings_for(
        mongo_uri, db.name, read_consistency=ReadConsistency.SESSION, cache_max_stale_s=0
    )
    async for http in client_for(settings, metrics):
        yield http, metrics


async def test_after_a_partner_write_the_next_read_shows_it(
    session_http: tuple[httpx.AsyncClient, Metrics], db: Database
) -> None:
    http, metrics = session_http
    key = await partner_key(db)
    before = await post(http, SEARCH, {"q": "fintech"})
    assert before.json()["data"]["communities"]["edges"] == []
    assert (await post(http, SEARCH, {"q": "fintech"})).content == before.content
    assert metrics.response_cache.hits == 1
    # The write returns once this host's read model shows it (read-your-writes).
    await upserted(GraphQLClient(http), key, [{"externalId": "f-1", "community": community()}])
    after = await post(http, SEARCH, {"q": "fintech"})
    assert len(after.json()["data"]["communities"]["edges"]) == 1
    assert after.headers["etag"] != before.headers["etag"]


async def test_answers_to_keys_never_reach_anonymous_callers_nor_come_from_the_cache(
    session_http: tuple[httpx.AsyncClient, Metrics], db: Database
) -> None:
    http, metrics = session_http
    partner = {"authorization": f"Bearer {await partner_key(db)}"}
    admin_key = await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    admin = {"authorization": f"Bearer {admin_key.key}"}
    stats = metrics.response_cache
    anonymous = await post(http, SEARCH, {"q": "x"})
    assert (stats.hits, stats.misses, stats.entries) == (0, 1, 1)
    for headers in (partner, admin, partner, admin):
        keyed = await post(http, SEARCH, {"q": "x"}, **headers)
        assert keyed.headers["cache-control"] == "private, no-store"
        assert "etag" not in keyed.headers
    assert (stats.hits, stats.misses, stats.entries) == (0, 1, 1)  # neither read nor kept
    # What only an admin may read is never kept, and anonymous callers get no part of it.
    keys = "{ apiKeys { id } }"
    assert (await post(http, keys, **admin)).json()["data"]["apiKeys"]
    refused = await post(http, keys)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused.headers["cache-control"] == "private, no-store"
    assert stats.entries == 1
    assert (await post(http, SEARCH, {"q": "x"})).content == anonymous.content
    assert stats.hits == 1


def test_the_bound_holds_for_any_poll_phase(read_model: sqlite3.Connection) -> None:
    """Whenever the change lands between two polls, no answer made before it is served
    `MAX_STALE_S` after it (the applier's time of the change, on the same clock)."""
    for phase in (0.0, 0.03, 0.06, 0.099):
        clock = Clock()
        cache = make_cache(read_model, clock)
        cache.store(KEY, answer_now(cache, {"events"}))
        served_until = None
        changed_at = None
        for tick in itertools.count():
            clock.now = 1000.0 + tick * 0.01
            if tick % 10 == 0:
                cache.versions.poll()
            if changed_at is None and clock.now >= 1000.5 + phase:
                bump(read_model, "events")
                changed_at = clock.now
            if cache.lookup(KEY) is not None:
                served_until = clock.now
            elif changed_at is not None:
                break
        assert changed_at is not None
        assert served_until is not None
        assert served_until - changed_at < MAX_STALE_S
