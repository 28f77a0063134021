from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.framework.contract import Checkpoint, Emitted, Fetcher, FieldWarning, Rejected
from connectors.framework.errors import FatalError
from connectors.web.feed import parse_feed
from connectors.web.rss import RssFeedConfig, RssFeedConnector, RssFeedStream
from schema.models import EventData, Listing
from tests.connectors.loopback import conditional, loopback_server

FIXTURES = Path(__file__).parents[1] / "fixtures" / "rss"
RSS_URL = "https://pynsk.example.ru/category/events/feed/"
ATOM_URL = "https://dea.example.org/events.atom"
NSK_VENUE = {"name": "Точка кипения", "city": "Новосибирск", "country": "RU"}


def config(**overrides: Any) -> RssFeedConfig:
    values: dict[str, Any] = {
        "url": RSS_URL,
        "language": "ru",
        "default_timezone": "Asia/Novosibirsk",
        "default_venue": NSK_VENUE,
        "organizers": ["https://pynsk.example.ru/#organization"],
    } | overrides
    return RssFeedConfig.model_validate(values)


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY: Any = _Any()  # a Rejected's raw value, not under test here


class _NoFetch:
    """The pure tests map parsed items; nothing may be fetched."""

    async def get(self, url: str, **_: Any) -> Any:
        raise AssertionError(f"unexpected fetch of {url}")


def mapped(body: bytes, cfg: RssFeedConfig) -> list[Listing | Rejected | FieldWarning]:
    stream = RssFeedStream("pynsk", cfg, _NoFetch())  # type: ignore[arg-type]
    items = parse_feed(body, url=cfg.url).items
    return [found for item in items for found in stream._item(item, cfg.url)]


def event(item: Listing | Rejected | FieldWarning) -> EventData:
    assert isinstance(item, Listing), item
    return EventData.model_validate(item.payload)


# -- parsing ----------------------------------------------------------------------------------


def test_rss2_items_are_read_with_their_parts() -> None:
    feed = parse_feed((FIXTURES / "community_events_rss2.xml").read_bytes(), url=RSS_URL)
    assert (feed.format, feed.language, len(feed.items)) == ("rss", "ru-RU", 5)
    first = feed.items[0]
    assert first.id == "https://pynsk.example.ru/?p=1841"
    assert first.link == "https://pynsk.example.ru/2026/11/meetup-41/"
    assert first.categories == ["Митапы", "asyncio"]
    assert first.content is not None
    assert "Точка кипения" in first.content
    assert first.published == datetime(2026, 11, 20, 9, 12, 40, tzinfo=UTC)


def test_atom_entries_are_read_with_their_parts() -> None:
    feed = parse_feed((FIXTURES / "meetups_atom.xml").read_bytes(), url=ATOM_URL)
    assert (feed.format, len(feed.items)) == ("atom", 3)
    first, second, _ = feed.items
    assert first.link == "https://dea.example.org/events/streaming-cdc-night"  # made absolute
    assert first.categories == ["Meetup", "kafka"]
    assert second.content is not None
    assert 'class="dt-start"' in second.content  # xhtml content kept as HTML


def test_billion_laughs_is_refused_naming_the_feed() -> None:
    body = (FIXTURES / "billion_laughs.xml").read_bytes()
    with pytest.raises(FatalError, match=f"feed {RSS_URL} refused"):
        parse_feed(body, url=RSS_URL)


def test_an_external_entity_is_refused() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<rss><channel><item><title>&xxe;</title></item></channel></rss>"
    )
    with pytest.raises(FatalError, match="refused"):
        parse_feed(body, url=RSS_URL)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<rss><channel><item>", "not well-formed"),
        (b"<html><body>Moved</body></html>", "neither RSS nor Atom"),
    ],
)
def test_a_document_that_is_not_a_feed_is_fatal(body: bytes, message: str) -> None:
    with pytest.raises(FatalError, match=message):
        parse_feed(body, url=RSS_URL)


def test_a_windows_1251_feed_is_decoded() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel>'
        "<item><title>Митап 12 декабря 2026 в 19:00</title><guid>a1</guid></item>"
        "</channel></rss>"
    )
    [item] = mapped(text.encode("cp1251"), config())
    assert event(item).title.ru == "Митап 12 декабря 2026 в 19:00"


# -- items to events --------------------------------------------------------------------------


def test_rss_items_become_events_with_dates_from_the_items_themselves() -> None:
    items = mapped((FIXTURES / "community_events_rss2.xml").read_bytes(), config())
    meetup, webinar, hackathon, review, workshop = items

    first = event(meetup)
    assert isinstance(meetup, Listing)
    assert meetup.external_id == "https://pynsk.example.ru/?p=1841"  # the guid
    assert meetup.url == "https://pynsk.example.ru/2026/11/meetup-41/"
    # "12 декабря 2026 в 18:30" in the title, wall clock in Novosibirsk (UTC+7)
    assert first.starts_at == datetime(2026, 12, 12, 11, 30, tzinfo=UTC)
    assert first.timezone == "Asia/Novosibirsk"
    assert first.format == "meetup"  # category "Митапы"
    assert first.attendance_mode == "offline"
    assert first.venue is not None
    assert first.venue.name == "Точка кипения"  # the source's default venue
    assert first.tags == ["Митапы", "asyncio"]
    assert first.organizers == ["https://pynsk.example.ru/#organization"]
    assert first.description is not None
    assert first.description.ru is not None
    assert "<p>" not in first.description.ru
    assert "Где: коворкинг «Точка кипения»" in first.description.ru

    second = event(webinar)  # JSON-LD embedded in content:encoded
    assert second.starts_at == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert second.ends_at == datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
    assert second.timezone == "Asia/Novosibirsk"  # +07:00 agrees with the default zone
    assert (second.format, second.attendance_mode) == ("educational", "online")
    assert second.online_url == "https://pynsk.example.ru/live"
    assert (second.venue, second.is_free) == (None, True)
    assert second.description is not None
    assert second.description.ru == "Разбираем, как договориться о схемах данных между командами."

    third = event(hackathon)
    assert (third.status, third.format, third.all_day) == ("cancelled", "hackathon", True)
    assert third.starts_at == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 5 Dec, 00:00 +07
    assert third.ends_at == datetime(2026, 12, 6, 17, 0, tzinfo=UTC)  # after 6 Dec

    # A news post has a pubDate but no event date: never dated by its pubDate.
    assert review == Rejected("no event date in the item", "https://pynsk.example.ru/?p=1811", ANY)

    fifth = event(workshop)  # h-event microformat
    assert fifth.format == "educational"
    assert fifth.starts_at == datetime(2026, 12, 19, 4, 0, tzinfo=UTC)
    assert fifth.ends_at == datetime(2026, 12, 19, 8, 0, tzinfo=UTC)


def test_atom_entries_become_events() -> None:
    cfg = config(
        url=ATOM_URL,
        language="en",
        default_timezone="Europe/Amsterdam",
        default_venue={"name": "Amsterdam Science Park", "city": "Amsterdam", "country": "NL"},
        organizers=[],
    )
    night, workshop, hiring = mapped((FIXTURES / "meetups_atom.xml").read_bytes(), cfg)

    first = event(night)
    assert first.title.en == "Streaming & CDC night"  # double-escaped in the feed
    assert first.format == "meetup"
    assert first.starts_at == datetime(2026, 12, 10, 17, 30, tzinfo=UTC)  # 6:30 pm CET
    assert first.ends_at == datetime(2026, 12, 10, 20, 0, tzinfo=UTC)
    assert first.url == "https://dea.example.org/events/streaming-cdc-night"

    second = event(workshop)
    assert (second.format, second.attendance_mode) == ("educational", "mixed")  # "Hybrid"
    assert second.starts_at == datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
    assert second.timezone == "Europe/Amsterdam"

    assert isinstance(hiring, Rejected)
    assert hiring.reason == "no event date in the item"


def test_a_date_without_a_year_follows_the_publication() -> None:
    body = (
        "<rss><channel><item><title>Новогодний нетворкинг 15 января в 19:00</title>"
        "<guid>n1</guid><pubDate>Mon, 14 Dec 2026 10:00:00 +0300</pubDate></item>"
        "</channel></rss>"
    ).encode()
    found = event(mapped(body, config())[0])
    assert found.starts_at == datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    assert found.format == "social"


def test_a_feed_date_pattern_reads_the_feed_own_format() -> None:
    body = (
        "<rss><channel><item><title>Клуб CTO</title><guid>c1</guid>"
        "<description>Дата: 04/02/2027, сбор в 19:15</description></item></channel></rss>"
    ).encode()
    pattern = (
        r"Дата:\s*(?P<day>\d{2})/(?P<month>\d{2})/(?P<year>\d{4}),"
        r" сбор в (?P<hour>\d+):(?P<minute>\d{2})"
    )
    found = event(mapped(body, config(date_pattern=pattern))[0])
    assert found.starts_at == datetime(2027, 2, 4, 12, 15, tzinfo=UTC)
    # Without the pattern, nothing in the item reads as a date.
    [rejected] = mapped(body, config())
    assert isinstance(rejected, Rejected)


def test_an_item_without_any_venue_is_kept_with_its_place_unknown() -> None:
    body = (
        b"<rss><channel><item><title>Meetup 3 March 2027</title><guid>m</guid></item>"
        b"</channel></rss>"
    )
    [listing] = mapped(body, config(default_venue=None))
    kept = event(listing)
    assert (kept.attendance_mode, kept.venue, kept.online_url) == ("unknown", None, None)
    assert kept.title.ru == "Meetup 3 March 2027"


JUNK_DATE_HINT = "is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"


def test_a_junk_date_in_an_item_is_rejected_in_plain_words_naming_it() -> None:
    jsonld = json.dumps({"@type": "Event", "name": "M", "startDate": "yesterday"})
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>Meetup</title><guid>mf</guid><description><![CDATA["
        '<time class="dt-start" datetime="yesterday">yesterday</time>]]></description></item>'
        "<item><title>Meetup</title><guid>ld</guid><description><![CDATA["
        f'<script type="application/ld+json">{jsonld}</script>]]></description></item>'
        "</channel></rss>"
    ).encode()

    reasons = [item.reason for item in mapped(body, config()) if isinstance(item, Rejected)]

    assert reasons == [
        f"dt-start: 'yesterday' {JUNK_DATE_HINT}",
        f"startDate: 'yesterday' {JUNK_DATE_HINT}",
    ]


def test_an_item_without_guid_or_link_is_rejected() -> None:
    body = b"<rss><channel><item><title>Meetup 3 March 2027</title></item></channel></rss>"
    [rejected] = mapped(body, config())
    assert isinstance(rejected, Rejected)
    assert "guid" in rejected.reason


def test_config_names_the_bad_field() -> None:
    with pytest.raises(ValidationError, match="date_pattern"):
        config(date_pattern=r"(?P<year>\d{4})")
    with pytest.raises(ValidationError, match="date_pattern"):
        config(date_pattern=r"(unclosed")
    with pytest.raises(ValidationError, match="default_timezone"):
        config(default_timezone="MSK")


# -- the connector over loopback HTTP: a 304 on the second run -----------------------------


async def run(connector: RssFeedConnector, state: dict[str, Any] | None) -> list[Emitted]:
    [stream] = connector.streams()
    return [item async for item in stream.records(state)]


async def test_the_feed_is_read_then_not_modified(fetcher: Fetcher) -> None:
    body = (FIXTURES / "community_events_rss2.xml").read_bytes()
    async with loopback_server(
        {"/feed": conditional(body, '"v1"', "application/rss+xml")}
    ) as server:
        connector = RssFeedConnector("pynsk", config(url=server.url("/feed")), fetcher)

        first = await run(connector, None)
        assert [type(item).__name__ for item in first] == [
            "Listing",
            "Listing",
            "Listing",
            "Rejected",
            "Listing",
            "Checkpoint",
        ]
        assert {item.source_id for item in first if isinstance(item, Listing)} == {"pynsk"}
        assert first[-1] == Checkpoint({"etag": '"v1"'})

        second = await run(connector, {"etag": '"v1"'})
        assert second == [Checkpoint({"etag": '"v1"'})]
        assert server.seen["/feed"][-1].headers["if-none-match"] == '"v1"'


async def test_a_hostile_feed_stops_the_run(fetcher: Fetcher) -> None:
    body = (FIXTURES / "billion_laughs.xml").read_bytes()
    async with loopback_server(
        {"/feed": conditional(body, '"x"', "application/rss+xml")}
    ) as server:
        connector = RssFeedConnector("evil", config(url=server.url("/feed")), fetcher)
        with pytest.raises(FatalError, match=server.url("/feed")):
            await run(connector, None)
