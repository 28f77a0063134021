"""Pages and feeds as people read them: local time in the event's own zone, country
names in any language, events without a place kept, nodes passed over counted. Through
the real path: pages on loopback HTTP, a sync run into the test's database, GraphQL
reads served from the read model (public) and MongoDB (admin)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from starlette.responses import Response
from uvicorn.lifespan.off import LifespanOff

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.storage.collections import Database
from service.sync.engine import run_sync
from service.sync.runs import Mode, RunStatus
from service.sync.sources import SourceSpec, add_source
from tests.conftest import GraphQLClient
from tests.connectors.loopback import loopback_server
from tests.service.admin.test_sources import admin_caller

EVENTS = """
{
  events(first: 50) {
    edges { node {
      title(lang: EN) attendanceMode status
      startsAt endsAt startsAtLocal endsAtLocal timezone
      venue { city country }
    } }
  }
}
"""
RUN = """
query($id: ID!) {
  syncRun(id: $id) {
    status
    counts { fetched created rejected skipped }
    skipped { where message }
  }
}
"""
HTML = "text/html; charset=utf-8"


@pytest.fixture(autouse=True)
def _loopback_lifespan(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in tests/connectors/ics: uvicorn 0.54 makes `Server.lifespan` only in `serve()`.
    if not hasattr(uvicorn.Server, "lifespan"):
        monkeypatch.setattr(
            uvicorn.Server, "lifespan", LifespanOff(uvicorn.Config("unused:app")), raising=False
        )


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with SafeFetcher(policy) as safe:
        yield safe


def page(*blocks: Any) -> bytes:
    scripts = "".join(
        f'<script type="application/ld+json">{json.dumps(block, ensure_ascii=False)}</script>'
        for block in blocks
    )
    return f"<html><head>{scripts}</head><body>Events</body></html>".encode()


def event(name: str, start: str, location: Any = None, **more: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "Event", "name": name, "startDate": start} | more
    if location is not None:
        node["location"] = location
    return node


def postal(country: str) -> dict[str, Any]:
    return {"@type": "Place", "address": {"@type": "PostalAddress", "addressCountry": country}}


CONCERT = page(
    {
        "@context": "https://schema.org",
        "@type": "MusicEvent",
        "@id": "https://pages.test/concert#event",
        "name": "Late concert",
        # An offset without a colon; the venue's coordinates are in New York.
        "startDate": "2030-10-31T19:30:00-0400",
        "location": {
            "@type": "Place",
            "name": "The Owl",
            "address": {
                "@type": "PostalAddress",
                "addressLocality": "Brooklyn",
                "addressCountry": "US",
            },
            "geo": {"@type": "GeoCoordinates", "latitude": 40.66, "longitude": -73.953},
        },
    },
    # A band's own node on the concert page: a source of events passes it over.
    {"@context": "https://schema.org", "@type": "MusicGroup", "name": "The Band"},
)
GRAPH = page(
    {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "@id": "https://pages.test/graph#page", "name": "Our events"},
            event(
                "Paris evening",
                "2030-03-12T19:00:00+01:00",
                postal("France"),
                endDate="2030-03-12T21:00:00+01:00",
            ),
            event("Dublin evening", "2030-06-01T18:00:00+01:00", postal("Ireland")),
            # No offset: wall-clock time at the venue (Germany keeps one clock).
            event("Berlin evening", "2030-07-01T18:00", postal("Германия")),
            event("Munich morning", "2030-07-02T09:00:00+02:00", postal("Deutschland")),
            event("Narnia morning", "2030-08-01T10:00:00+02:00", postal("Narnia")),
            # A date and a title, no place: kept, its place unknown.
            event("Placeless", "2030-09-01T10:00:00+03:00"),
            event("Half-hour offset", "2030-09-02T19:00:00+05:30"),
        ],
    }
)
NOVOSIBIRSK = page(
    {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": "Siberian meetup",
        "startDate": "2030-05-01T19:00",  # no offset: 19:00 where the venue is
        "location": {
            "@type": "Place",
            "name": "Technopark",
            "geo": {"@type": "GeoCoordinates", "latitude": 54.85, "longitude": 83.11},
        },
    }
)


def _serve(body: bytes) -> Callable[[Any], Response]:
    return lambda request: Response(body, media_type=HTML)


async def sync_pages(db: Database, fetcher: SafeFetcher) -> dict[str, Any]:
    bodies = {"/concert": CONCERT, "/graph": GRAPH, "/nsk": NOVOSIBIRSK}
    routes = {path: _serve(body) for path, body in bodies.items()}
    async with loopback_server(routes) as server:
        config = {
            "urls": [server.url(path) for path in bodies],
            "language": "en",
            "default_timezone": "Europe/Moscow",
        }
        spec = SourceSpec(id="pages", name="Pages", family="platform", kind="jsonld", config=config)
        await add_source(db, spec)
        run = await run_sync(db, "pages", fetcher, mode=Mode.FULL)
    return dict(run)


def by_title(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["node"]["title"]: edge["node"] for edge in data["events"]["edges"]}


async def test_pages_give_local_times_countries_unknown_places_and_skipped_nodes(
    db: Database, fresh_api: GraphQLClient, fetcher: SafeFetcher
) -> None:
    run = await sync_pages(db, fetcher)
    assert run["status"] == RunStatus.SUCCEEDED
    assert run["counts"]["created"] == 9
    assert run["counts"]["rejected"] == 0

    events = by_title(await fresh_api.data(EVENTS))

    def when(title: str) -> tuple[str, str, str]:
        found = events[title]
        return found["timezone"], found["startsAtLocal"], found["startsAt"]

    # The offset and the local time are kept; the zone is the venue's.
    assert when("Late concert") == (
        "America/New_York",
        "2030-10-31T19:30:00-04:00",
        "2030-10-31T23:30:00+00:00",
    )
    assert when("Paris evening")[:2] == ("Europe/Paris", "2030-03-12T19:00:00+01:00")
    assert events["Paris evening"]["endsAtLocal"] == "2030-03-12T21:00:00+01:00"
    assert events["Paris evening"]["endsAt"] == "2030-03-12T20:00:00+00:00"
    assert when("Dublin evening")[:2] == ("Europe/Dublin", "2030-06-01T18:00:00+01:00")
    assert when("Berlin evening") == (
        "Europe/Berlin",
        "2030-07-01T18:00:00+02:00",
        "2030-07-01T16:00:00+00:00",
    )
    assert when("Siberian meetup")[:2] == ("Asia/Novosibirsk", "2030-05-01T19:00:00+07:00")
    # No venue: the source's zone when it has the offset, else a zone that has it.
    assert when("Placeless")[:2] == ("Europe/Moscow", "2030-09-01T10:00:00+03:00")
    assert when("Narnia morning")[:2] == ("Etc/GMT-2", "2030-08-01T10:00:00+02:00")
    assert when("Half-hour offset")[1] == "2030-09-02T19:00:00+05:30"

    # Country names in any language become ISO codes; an unknown one is not invented.
    countries = {title: (e["venue"] or {}).get("country") for title, e in events.items()}
    assert countries["Paris evening"] == "FR"
    assert countries["Dublin evening"] == "IE"
    assert countries["Berlin evening"] == "DE"
    assert countries["Munich morning"] == "DE"
    assert countries["Narnia morning"] is None
    # ... it is kept as a warning naming the field and the value as written.
    [warning] = [w async for w in db["listing_warnings"].find({"source_id": "pages"})]
    assert (warning["field"], warning["raw"]) == ("venue.country", "Narnia")
    assert "Narnia" in warning["message"]

    placeless = events["Placeless"]
    assert (placeless["attendanceMode"], placeless["venue"]) == ("UNKNOWN", None)

    # The band and the WebPage node are counted as skipped, with a sample saying why.
    assert run["counts"]["skipped"] == 2
    admin = await admin_caller(fresh_api, db)
    shown = (await admin.data(RUN, {"id": str(run["_id"])}))["syncRun"]
    assert shown["counts"]["skipped"] == 2
    messages = [s["message"] for s in shown["skipped"]]
    assert any(m.startswith("MusicGroup 'The Band' on ") for m in messages), messages
    assert any(m.startswith("WebPage 'Our events' on ") for m in messages), messages
    assert all(m.endswith("neither an event nor a community") for m in messages), messages


FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Meetups</title><link>https://feed.test/</link>
<item><guid>https://feed.test/1</guid><title>Python meetup 12 March 2030 19:00</title>
<description>See you there.</description></item>
<item><guid>https://feed.test/2</guid><title>Data night 14 March 2030 18:30 (cancelled)</title>
</item>
</channel></rss>"""


async def test_feed_items_without_a_venue_are_kept_with_their_place_unknown(
    db: Database, fresh_api: GraphQLClient, fetcher: SafeFetcher
) -> None:
    def feed(request: Any) -> Response:
        return Response(FEED, media_type="application/rss+xml")

    async with loopback_server({"/feed": feed}) as server:
        # No default_venue, and the default attendance mode (offline) as it comes.
        config = {"url": server.url("/feed"), "language": "en", "default_timezone": "Europe/Riga"}
        await add_source(
            db, SourceSpec(id="feed", name="Feed", family="platform", kind="rss", config=config)
        )
        run = await run_sync(db, "feed", fetcher, mode=Mode.FULL)

    assert (run["counts"]["created"], run["counts"]["rejected"]) == (2, 0)
    events = by_title(await fresh_api.data(EVENTS))
    meetup = events["Python meetup 12 March 2030 19:00"]
    assert (meetup["attendanceMode"], meetup["venue"], meetup["status"]) == (
        "UNKNOWN",
        None,
        "SCHEDULED",
    )
    assert (meetup["timezone"], meetup["startsAtLocal"]) == (
        "Europe/Riga",
        "2030-03-12T19:00:00+02:00",
    )
    cancelled = events["Data night 14 March 2030 18:30 (cancelled)"]
    assert (cancelled["attendanceMode"], cancelled["status"]) == ("UNKNOWN", "CANCELLED")
