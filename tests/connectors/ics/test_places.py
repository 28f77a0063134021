"""Where iCalendar events happen: kept without a place, city and country from LOCATION,
meeting links as the online URL. Through the real path: a feed on loopback HTTP, a sync
run into the test's database, and a GraphQL read served from the read model."""

from __future__ import annotations

from collections.abc import AsyncIterator
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

EVENTS = """
query($filter: EventFilter) {
  events(filter: $filter, first: 50) {
    edges { node {
      title(lang: EN)
      status attendanceMode onlineUrl url
      venue { name address city country }
    } }
  }
}
"""


@pytest.fixture(autouse=True)
def _loopback_lifespan(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in test_connector.py: uvicorn 0.54 makes `Server.lifespan` only in `serve()`.
    if not hasattr(uvicorn.Server, "lifespan"):
        monkeypatch.setattr(
            uvicorn.Server, "lifespan", LifespanOff(uvicorn.Config("unused:app")), raising=False
        )


def vevent(uid: str, summary: str, *lines: str, start: str = "20300610T160000Z") -> list[str]:
    head = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART:{start}", f"SUMMARY:{summary}"]
    return [*head, *lines, "END:VEVENT"]


def calendar(*events: list[str]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//guildgraph tests//EN"]
    for event in events:
        lines += event
    return "\r\n".join([*lines, "END:VCALENDAR", ""]).encode()


FEED = calendar(
    # 1a: a cancelled entry with nothing about where (as exporters write them).
    vevent("cancelled@places.test", "Cancelled without a place", "STATUS:CANCELLED"),
    # 1b: a date and a title, nothing else.
    vevent("bare@places.test", "Announced without a place"),
    # 1c: the shapes LOCATION text comes in.
    vevent("moscow@places.test", "Moscow meetup", "LOCATION:Москва\\, ул. Льва Толстого\\, 16"),
    vevent("nsk@places.test", "Novosibirsk meetup", "LOCATION:Novosibirsk\\, Russia"),
    vevent(
        "berlin@places.test",
        "Berlin meetup",
        "LOCATION:Station Berlin\\, Luckenwalder Str. 4-6\\, 10963 Berlin\\, Deutschland",
    ),
    vevent(
        "dublin@places.test",
        "Dublin meetup",
        "LOCATION:The Digital Hub (Thomas Street 10\\, Dublin\\, Ireland D08 TCV4)",
    ),
    vevent("hall@places.test", "Meetup in a hall", "LOCATION:Main hall"),
    # Online links: in LOCATION, in URL, in the conference properties.
    vevent(
        "online-word@places.test",
        "Online by word",
        "LOCATION:Online",
        "URL:https://community.test/events/online-word",
    ),
    vevent("zoom-url@places.test", "Zoom link as URL", "URL:https://us02web.zoom.us/j/123456789"),
    vevent(
        "google@places.test",
        "Google Meet",
        "X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij",
        "URL:https://community.test/events/google",
    ),
    vevent(
        "teams@places.test",
        "Teams call",
        "LOCATION:Microsoft Teams Meeting",
        "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/19%3ameeting",
    ),
    vevent(
        "conference@places.test",
        "RFC 7986 conference",
        "LOCATION:Офис\\, Казань\\, Россия",
        "CONFERENCE;VALUE=URI;FEATURE=VIDEO:https://telemost.yandex.ru/j/4242",
    ),
)


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with SafeFetcher(policy) as safe:
        yield safe


async def sync_feed(db: Database, fetcher: SafeFetcher, body: bytes) -> dict[str, Any]:
    def feed(request: Any) -> Response:
        return Response(body, media_type="text/calendar")

    async with loopback_server({"/feed.ics": feed}) as server:
        await add_source(
            db,
            SourceSpec(
                id="places-ics",
                name="Places",
                family="platform",
                kind="ics",
                config={"url": server.url("/feed.ics")},
            ),
        )
        run = await run_sync(db, "places-ics", fetcher, mode=Mode.FULL)
    return dict(run)


def by_title(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["node"]["title"]: edge["node"] for edge in data["events"]["edges"]}


async def test_events_without_a_place_are_kept_and_places_are_read_from_location(
    db: Database, fresh_api: GraphQLClient, fetcher: SafeFetcher
) -> None:
    run = await sync_feed(db, fetcher, FEED)
    assert run["status"] == RunStatus.SUCCEEDED
    assert run["counts"]["rejected"] == 0
    assert run["counts"]["created"] == 12

    events = by_title(await fresh_api.data(EVENTS))

    cancelled = events["Cancelled without a place"]
    assert (cancelled["status"], cancelled["attendanceMode"]) == ("CANCELLED", "UNKNOWN")
    assert (cancelled["venue"], cancelled["onlineUrl"]) == (None, None)
    bare = events["Announced without a place"]
    assert (bare["status"], bare["attendanceMode"], bare["venue"]) == ("SCHEDULED", "UNKNOWN", None)

    assert events["Moscow meetup"]["venue"] == {
        "name": None,  # "Москва" is the city, not a venue's name
        "address": "Москва, ул. Льва Толстого, 16",
        "city": "Москва",
        "country": None,  # not stated
    }
    assert events["Novosibirsk meetup"]["venue"]["city"] == "Novosibirsk"
    assert events["Novosibirsk meetup"]["venue"]["country"] == "RU"
    berlin = events["Berlin meetup"]["venue"]
    assert (berlin["name"], berlin["city"], berlin["country"]) == ("Station Berlin", "Berlin", "DE")
    dublin = events["Dublin meetup"]["venue"]
    assert (dublin["name"], dublin["city"], dublin["country"]) == (
        "The Digital Hub",
        "Dublin",
        "IE",
    )
    hall = events["Meetup in a hall"]
    assert (hall["attendanceMode"], hall["venue"]["name"], hall["venue"]["city"]) == (
        "OFFLINE",
        "Main hall",
        None,  # nothing says which city: none is guessed
    )

    online = events["Online by word"]
    assert (online["attendanceMode"], online["venue"], online["onlineUrl"]) == (
        "ONLINE",
        None,
        None,
    )
    assert online["url"] == "https://community.test/events/online-word"  # the page stays the page
    zoom = events["Zoom link as URL"]
    assert (zoom["attendanceMode"], zoom["onlineUrl"], zoom["url"]) == (
        "ONLINE",
        "https://us02web.zoom.us/j/123456789",
        None,  # a meeting link is the way to join, not the event's page
    )
    google = events["Google Meet"]
    assert (google["onlineUrl"], google["url"]) == (
        "https://meet.google.com/abc-defg-hij",
        "https://community.test/events/google",
    )
    teams = events["Teams call"]
    assert teams["attendanceMode"] == "ONLINE"
    assert teams["onlineUrl"] == "https://teams.microsoft.com/l/meetup-join/19%3ameeting"
    mixed = events["RFC 7986 conference"]
    assert (mixed["attendanceMode"], mixed["onlineUrl"]) == (
        "MIXED",
        "https://telemost.yandex.ru/j/4242",
    )
    assert (mixed["venue"]["city"], mixed["venue"]["country"]) == ("Казань", "RU")

    # The city filter now finds calendar events, in any case the city was written in.
    moscow = await fresh_api.data(EVENTS, {"filter": {"city": "москва"}})
    assert list(by_title(moscow)) == ["Moscow meetup"]
    russian = await fresh_api.data(EVENTS, {"filter": {"countries": ["RU"]}})
    assert set(by_title(russian)) == {"Novosibirsk meetup", "RFC 7986 conference"}
    unknown = await fresh_api.data(EVENTS, {"filter": {"attendanceModes": ["UNKNOWN"]}})
    assert set(by_title(unknown)) == {"Cancelled without a place", "Announced without a place"}
