"""Subscriptions on real uvicorn servers: listing changes and sync run progress.

A change stream opened after a write does not see it, so each listing test first
writes probes until one comes back (the subscription is then established) and
skips the probes afterwards; run progress starts with the run's current state,
which is sent only once the subscription listens.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from websockets.asyncio.client import ClientConnection

from schema.models import Listing
from schema.relay import to_global_id
from schema.taxonomy import EntityType
from service.api.websocket import WebSocketGraphQL
from service.ingest.pipeline import Outcome, ingest
from service.ingest.withdrawal import withdraw_unseen
from service.storage.collections import SYNC_RUNS, TOMBSTONES, Database
from tests.conftest import settings_for
from tests.service.api import test_websocket
from tests.service.api.test_websocket import (
    WAIT_S,
    Served,
    admin_key,
    bearer,
    open_socket,
    partner_key,
    receive,
    serve,
    subscribe,
)

views = test_websocket.views  # the fixture, shared

PROBE_WAIT_S = 0.5  # how long one probe is given before another is written

LISTING_CHANGES = """
subscription Changes($filter: ListingChangeFilter) {
  listingChanges(filter: $filter) {
    change
    entityType
    id
    at
    entity {
      __typename
      ... on Community { slug industries countries name(lang: EN) }
      ... on Event { slug organizers { slug } }
    }
  }
}
"""

RUN_PROGRESS = """
subscription Run($id: ID!) {
  syncRunProgress(runId: $id) {
    id
    status
    counts { fetched created }
    progress { pages estimatedTotal }
    finishedAt
  }
}
"""

_serial = itertools.count()


def community(
    source: str,
    external_id: str,
    *,
    industries: tuple[str, ...] = ("it",),
    countries: tuple[str, ...] = ("RU",),
    name: str | None = None,
) -> Listing:
    return Listing(
        entity=EntityType.COMMUNITY,
        source_id=source,
        external_id=external_id,
        payload={
            "name": {"en": name or f"Community {external_id}"},
            "kind": "professional",
            "form": "association",
            "industries": list(industries),
            "countries": list(countries),
        },
    )


def event(source: str, external_id: str, organizer: str, *, country: str = "RU") -> Listing:
    return Listing(
        entity=EntityType.EVENT,
        source_id=source,
        external_id=external_id,
        payload={
            "title": {"en": f"Event {external_id}"},
            "format": "meetup",
            "starts_at": "2031-05-01T18:00:00",
            "timezone": "Europe/Moscow",
            "attendance_mode": "offline",
            "venue": {"city": "Moscow", "country": country},
            "organizers": [organizer],
        },
    )


async def write(db: Database, *listings: Listing) -> list[str]:
    """Ingest through the service; the global ids of the entities, in order."""
    results = await ingest(db, list(listings))
    assert all(r.outcome is not Outcome.REJECTED for r in results), results
    names = {EntityType.COMMUNITY: "Community", EntityType.EVENT: "Event"}
    return [to_global_id(names[r.entity], str(r.entity_id)) for r in results]


async def withdraw(db: Database, source: str) -> None:
    """Withdraw every listing of `source` (a full pass that saw none of them)."""
    assert await withdraw_unseen(db, source, f"epoch-{next(_serial)}") > 0


class Feed:
    """One listingChanges subscription: its socket and the probe ids to skip."""

    def __init__(self, ws: ClientConnection, id: str) -> None:
        self.ws = ws
        self.id = id
        self.probes: set[str] = set()

    async def establish(self, write_probe: Callable[[int], Awaitable[str]]) -> None:
        """Write probes (matching the filter) until one arrives."""
        async with asyncio.timeout(WAIT_S):
            for attempt in itertools.count():
                self.probes.add(await write_probe(attempt))
                try:
                    async with asyncio.timeout(PROBE_WAIT_S):
                        change = await self._next()
                except TimeoutError:
                    continue
                assert change["id"] in self.probes, change
                return

    async def _next(self) -> dict[str, Any]:
        message = await receive(self.ws)
        assert message["type"] == "next", message
        assert message["id"] == self.id, message
        assert "errors" not in message["payload"], message
        change: dict[str, Any] = message["payload"]["data"]["listingChanges"]
        return change

    async def next(self) -> dict[str, Any]:
        """The next change that is not a probe."""
        while True:
            change = await self._next()
            if change["id"] not in self.probes:
                return change


async def listen(
    ws: ClientConnection, filter: dict[str, Any] | None = None, id: str = "changes"
) -> Feed:
    await subscribe(ws, id, LISTING_CHANGES, {"filter": filter})
    return Feed(ws, id)


@pytest.fixture
async def served(
    mongo_uri: str, db: Database, views: list[WebSocketGraphQL]
) -> AsyncIterator[Served]:
    async with serve(settings_for(mongo_uri, db.name), views) as s:
        yield s


async def test_listing_changes_report_created_updated_and_withdrawn(
    served: Served, db: Database
) -> None:
    async with await open_socket(served.url) as ws:  # anonymous: the data is public
        feed = await listen(ws, {"sourceIds": ["src-a", "probe"]})
        await feed.establish(lambda _: _first(write(db, community("probe", f"p{next(_serial)}"))))

        [created_id] = await write(db, community("src-a", "c1", name="Guild One"))
        created = await feed.next()
        assert created["change"] == "CREATED"
        assert created["entityType"] == "COMMUNITY"
        assert created["id"] == created_id
        assert created["entity"]["__typename"] == "Community"
        assert created["entity"]["name"] == "Guild One"
        assert created["at"]

        await write(db, community("src-a", "c1", name="Guild One Renamed"))
        updated = await feed.next()
        assert (updated["change"], updated["id"]) == ("UPDATED", created_id)
        assert updated["entity"]["name"] == "Guild One Renamed"

        await withdraw(db, "src-a")
        withdrawn = await feed.next()
        assert withdrawn == {
            "change": "WITHDRAWN",
            "entityType": "COMMUNITY",
            "id": created_id,
            "at": withdrawn["at"],
            "entity": None,
        }
    assert await db[TOMBSTONES].count_documents({}) == 1


async def test_listing_changes_filter_communities_by_industry_country_and_type(
    served: Served, db: Database
) -> None:
    wanted = {"entityTypes": ["COMMUNITY"], "industries": ["it"], "countries": ["RU", "KZ"]}
    async with await open_socket(served.url) as ws:
        feed = await listen(ws, wanted)
        await feed.establish(lambda _: _first(write(db, community("probe", f"p{next(_serial)}"))))

        # Each of these misses one condition; the last one meets them all.
        await write(db, community("finance", "c1", industries=("finance",)))
        await write(db, community("germany", "c2", countries=("DE",)))
        organizer = community("events", "organizer", industries=("finance",))
        await write(db, organizer, event("events", "e1", "organizer"))
        [kept] = await write(db, community("kept", "c3", industries=("it", "finance")))
        change = await feed.next()
        assert (change["change"], change["id"]) == ("CREATED", kept)
        assert change["entity"]["industries"] == ["it", "finance"]

        # Withdrawals are matched on what the entity was.
        await withdraw(db, "finance")
        await withdraw(db, "germany")
        await withdraw(db, "kept")
        change = await feed.next()
        assert (change["change"], change["entityType"], change["id"]) == (
            "WITHDRAWN",
            "COMMUNITY",
            kept,
        )


async def test_listing_changes_match_events_by_organizer_industry_and_venue(
    served: Served, db: Database
) -> None:
    await write(db, community("it", "org", industries=("it",), name="IT Guild"))
    await write(db, community("fin", "org", industries=("finance",), name="Fin Guild"))
    wanted = {"entityTypes": ["EVENT"], "industries": ["it"], "countries": ["RU"]}
    async with await open_socket(served.url) as ws:
        feed = await listen(ws, wanted)
        await feed.establish(
            lambda _: _first(write(db, event("it", f"probe{next(_serial)}", "org")))
        )

        await write(db, event("fin", "e1", "org"))  # organizer in finance
        await write(db, event("it", "abroad", "org", country="DE"))  # venue abroad
        [kept] = await write(db, event("it", "e2", "org"))
        change = await feed.next()
        assert (change["change"], change["entityType"], change["id"]) == ("CREATED", "EVENT", kept)
        assert change["entity"]["organizers"] == [{"slug": "it-guild"}]

        # The whole "it" source goes: the events' tombstones carry their organizer's
        # industries although the organizer is withdrawn in the same pass.
        await withdraw(db, "fin")
        await withdraw(db, "it")
        withdrawn = set()
        while kept not in withdrawn:
            change = await feed.next()
            assert (change["change"], change["entityType"]) == ("WITHDRAWN", "EVENT")
            withdrawn.add(change["id"])
        assert await db[TOMBSTONES].count_documents({"entity": "community"}) == 2


async def test_a_filter_with_unknown_codes_is_an_error(served: Served) -> None:
    async with await open_socket(served.url) as ws:
        await listen(ws, {"industries": ["no-such-industry"]})
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "argument": "filter.industries",
        }


def run_document(status: str = "queued", **fields: Any) -> dict[str, Any]:
    counts = dict.fromkeys(
        ("fetched", "created", "updated", "unchanged", "rejected", "withdrawn"), 0
    )
    return {
        "source_id": "registry",
        "mode": "full",
        "trigger": "api",
        "status": status,
        "active": status in ("queued", "running"),
        "created_at": datetime.now(UTC),
        "started_at": None,
        "finished_at": None,
        "heartbeat_at": None,
        "counts": counts,
        "progress": {"pages": 0, "bytes": 0, "records_per_s": 0.0, "estimated_total": None},
        "errors": [],
        **fields,
    }


async def test_sync_run_progress_follows_a_run_until_it_ends(served: Served, db: Database) -> None:
    run_id = (await db[SYNC_RUNS].insert_one(run_document())).inserted_id
    key = await admin_key(db)
    async with await open_socket(served.url, bearer(key)) as ws:
        await subscribe(ws, "run", RUN_PROGRESS, {"id": str(run_id)})

        async def next_state() -> dict[str, Any]:
            message = await receive(ws)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            state: dict[str, Any] = message["payload"]["data"]["syncRunProgress"]
            return state

        first = await next_state()  # sent once the subscription listens
        assert first["id"] == str(run_id)
        assert first["status"] == "QUEUED"

        now = datetime.now(UTC)
        await db[SYNC_RUNS].update_one(
            {"_id": run_id}, {"$set": {"status": "running", "started_at": now}}
        )
        assert (await next_state())["status"] == "RUNNING"

        await db[SYNC_RUNS].update_one(
            {"_id": run_id},
            {
                "$set": {
                    "counts.fetched": 40,
                    "counts.created": 30,
                    "progress.pages": 4,
                    "progress.estimated_total": 100,
                    "heartbeat_at": now,
                }
            },
        )
        state = await next_state()
        assert state["counts"] == {"fetched": 40, "created": 30}
        assert state["progress"] == {"pages": 4, "estimatedTotal": 100}

        await db[SYNC_RUNS].update_one(
            {"_id": run_id},
            {"$set": {"status": "succeeded", "active": False, "finished_at": now}},
        )
        last = await next_state()
        assert last["status"] == "SUCCEEDED"
        assert last["finishedAt"] is not None
        assert await receive(ws) == {"type": "complete", "id": "run"}


async def test_sync_run_progress_of_a_finished_run_sends_it_and_completes(
    served: Served, db: Database
) -> None:
    run_id = (await db[SYNC_RUNS].insert_one(run_document("failed"))).inserted_id
    key = await admin_key(db)
    async with await open_socket(served.url, bearer(key)) as ws:
        await subscribe(ws, "run", RUN_PROGRESS, {"id": str(run_id)})
        message = await receive(ws)
        assert message["payload"]["data"]["syncRunProgress"]["status"] == "FAILED"
        assert await receive(ws) == {"type": "complete", "id": "run"}


async def test_sync_run_progress_is_denied_to_anonymous_and_partners(
    served: Served, db: Database
) -> None:
    run_id = str((await db[SYNC_RUNS].insert_one(run_document())).inserted_id)
    partner = await partner_key(db)
    denials = []
    for payload in (None, bearer(partner)):
        async with await open_socket(served.url, payload) as ws:
            # An existing run, a missing one and a malformed id: the same answer.
            for n, target in enumerate((run_id, str(ObjectId()), "nope")):
                await subscribe(ws, str(n), RUN_PROGRESS, {"id": target})
                message = await receive(ws)
                assert message["type"] == "error", message  # no data, ever
                assert message["id"] == str(n)
                denials.append(message["payload"])
    assert all(d == denials[0] for d in denials)
    assert denials[0][0]["extensions"] == {"code": "FORBIDDEN"}


async def test_an_admin_asking_for_an_unknown_run_is_told(served: Served, db: Database) -> None:
    key = await admin_key(db)
    async with await open_socket(served.url, bearer(key)) as ws:
        await subscribe(ws, "1", RUN_PROGRESS, {"id": str(ObjectId())})
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_change_written_on_one_instance_reaches_subscribers_of_another(
    mongo_uri: str, db: Database, views: list[WebSocketGraphQL]
) -> None:
    settings = settings_for(mongo_uri, db.name)
    async with serve(settings, views) as a, serve(settings, views) as b:
        assert a.view is not b.view
        key = await admin_key(db)
        async with (
            await open_socket(a.url) as on_a,
            await open_socket(b.url, bearer(key)) as on_b,
        ):
            feed_a, feed_b = await listen(on_a), await listen(on_b)
            # Instance A's process writes; B shares nothing with it but the database.
            async with asyncio.timeout(WAIT_S):
                await _establish_both(db, feed_a, feed_b)
            [written] = await write(db, community("shared", "c1"))
            assert (await feed_b.next())["id"] == written
            assert (await feed_a.next())["id"] == written

            run_id = (await db[SYNC_RUNS].insert_one(run_document())).inserted_id
            await subscribe(on_b, "run", RUN_PROGRESS, {"id": str(run_id)})
            first = await receive(on_b)
            assert first["payload"]["data"]["syncRunProgress"]["status"] == "QUEUED"
            await db[SYNC_RUNS].update_one(
                {"_id": run_id}, {"$set": {"status": "cancelled", "active": False}}
            )
            last = await receive(on_b)
            assert last["payload"]["data"]["syncRunProgress"]["status"] == "CANCELLED"
            assert await receive(on_b) == {"type": "complete", "id": "run"}


async def _establish_both(db: Database, *feeds: Feed) -> None:
    for feed in feeds:
        await feed.establish(lambda _: _first(write(db, community("probe", f"p{next(_serial)}"))))
        # Probes written for one feed may reach the other one later: skip them there too.
        for other in feeds:
            other.probes |= feed.probes


async def _first(ids: Awaitable[list[str]]) -> str:
    return (await ids)[0]
