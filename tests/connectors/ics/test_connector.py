"""iCalendar feeds: the parsing layer on bytes, the mapping, then the stream over loopback HTTP."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from uvicorn.lifespan.off import LifespanOff

from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError, RetriableError
from connectors.ics.connector import IcsFeedConfig, IcsFeedConnector, IcsFeedStream
from connectors.ics.event import Occurrence
from connectors.ics.lines import LineUnfolder
from connectors.ics.listing import Mapped, to_listing
from connectors.ics.parse import FeedParser, FeedStats, ParseOptions
from connectors.net.fetcher import SafeFetcher
from schema.models import EventData, Listing
from tests.connectors.loopback import conditional, loopback_server

REAL = Path("/work/shared/fixtures/real/meetup_aggregated_dutch_datascience.ics")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ics"
OUTLOOK = FIXTURES / "outlook_weekly_ru.ics"
OUTLOOK_UID = (
    "040000008200E00074C5B7101A82E0080000000010F6C9E7F4A5DB01000000000000000010000000"
    "A1B2C3D4E5F60718293A4B5C6D7E8F90"
)
GEO_NA_UIDS = {  # the five VEVENTs of the real feed whose GEO is "NA"
    "12799-1664352000-1674752400@ecda.eur.nl",
    "13506-1670409000-1670421600@ecda.eur.nl",
    "13530-1670518800-1670526000@ecda.eur.nl",
    "13426-1677715200-1677801599@ecda.eur.nl",
    "12562-1679904000-1680282000@ecda.eur.nl",
}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FEED_URL = "https://feeds.example/calendar.ics"


@pytest.fixture(autouse=True)
def _loopback_lifespan(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/connectors/loopback.py calls `Server.startup()` itself, but uvicorn 0.54
    creates `Server.lifespan` only inside `serve()`: give servers the no-op lifespan
    the helper asks for ("off") until the helper sets it (not this module's file)."""
    if not hasattr(uvicorn.Server, "lifespan"):
        monkeypatch.setattr(
            uvicorn.Server, "lifespan", LifespanOff(uvicorn.Config("unused:app")), raising=False
        )


# --- helpers ---------------------------------------------------------------------------


def parse(
    data: bytes | Iterable[bytes], *, now: datetime = NOW, **options: Any
) -> tuple[list[Occurrence], list[Rejected], FeedStats]:
    parser = FeedParser(ParseOptions(now=now, **options))
    items = [item for chunk in _chunks(data) for item in parser.feed(chunk)]
    items += list(parser.close())
    occurrences = [item for item in items if isinstance(item, Occurrence)]
    return occurrences, [item for item in items if isinstance(item, Rejected)], parser.stats


def _chunks(data: bytes | Iterable[bytes]) -> Iterable[bytes]:
    return [data] if isinstance(data, bytes) else data


def split(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def by_uid(occurrences: list[Occurrence]) -> dict[str, Occurrence]:
    return {occurrence.external_id: occurrence for occurrence in occurrences}


def config(**overrides: Any) -> IcsFeedConfig:
    return IcsFeedConfig.model_validate({"url": FEED_URL, **overrides})


def mapped(
    data: bytes, *, now: datetime = NOW, **overrides: Any
) -> tuple[dict[str, EventData], list[Rejected]]:
    """Parse and map like the stream does: payloads by external id, and the rejections."""
    settings = config(**overrides)
    occurrences, rejected, _ = parse(data, now=now, default_timezone=settings.default_timezone)
    payloads: dict[str, EventData] = {}
    for occurrence in occurrences:
        result = to_listing(occurrence, settings, "test-ics", now)
        if isinstance(result, Mapped):
            payloads[result.listing.external_id] = EventData.model_validate(result.listing.payload)
        else:
            rejected.append(result)
    return payloads, rejected


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the real Dutch feed -----------------------------------------------------------------


def test_real_feed_yields_every_event() -> None:
    events, rejected = mapped(REAL.read_bytes(), organizers=["dutch-data-science"])

    assert len(events) == 19 == REAL.read_bytes().count(b"BEGIN:VEVENT")
    assert rejected == []
    assert all(event.organizers == ["dutch-data-science"] for event in events.values())


def test_real_feed_dirty_properties_do_not_lose_their_events() -> None:
    occurrences, rejected, _ = parse(REAL.read_bytes())
    found = by_uid(occurrences)
    events, _ = mapped(REAL.read_bytes())

    assert rejected == []
    assert GEO_NA_UIDS <= found.keys()
    for uid in GEO_NA_UIDS:
        assert found[uid].geo is None
        assert any(note.startswith("GEO ignored") for note in found[uid].notes)
        assert found[uid].cancelled is False  # their STATUS is "NA" too
        assert any(note.startswith("STATUS 'NA' ignored") for note in found[uid].notes)
        venue = events[uid].venue
        assert venue is None or venue.location is None
    organizer_na = found["event_290090877@meetup.com"]
    assert any(note.startswith("ORGANIZER 'NA' ignored") for note in organizer_na.notes)


def test_real_feed_reads_times_in_the_amsterdam_zone() -> None:
    events, _ = mapped(REAL.read_bytes())

    winter = events["event_288006255@meetup.com"]  # 16:00 CET on 7 December 2022
    assert winter.timezone == "Europe/Amsterdam"
    assert winter.starts_at == datetime(2022, 12, 7, 15, 0, tzinfo=UTC)
    assert winter.ends_at == datetime(2022, 12, 7, 17, 30, tzinfo=UTC)
    summer = events["12799-1664352000-1674752400@ecda.eur.nl"]  # 08:00 CEST, 28 September
    assert summer.starts_at == datetime(2022, 9, 28, 6, 0, tzinfo=UTC)


def test_real_feed_places_and_attendance() -> None:
    events, _ = mapped(REAL.read_bytes())

    venue_event = events["event_288006255@meetup.com"]
    assert venue_event.attendance_mode == "offline"
    assert venue_event.venue is not None
    assert venue_event.venue.name == "Centrum Wiskunde & Informatica"
    assert venue_event.venue.address == "Science Park 123, Amsterdam, NH, Netherlands 1098 XG"
    assert venue_event.venue.country == "NL"
    assert venue_event.venue.location is not None
    assert (venue_event.venue.location.lat, venue_event.venue.location.lon) == (52.36, 4.88)
    # Meetup gives online events its group's city as GEO: that is not a venue.
    online = events["event_290090877@meetup.com"]
    assert (online.attendance_mode, online.venue) == ("online", None)
    assert online.url == "https://www.meetup.com/amsterdam-ai-developers-group/events/290090877/"
    assert events["12799-1664352000-1674752400@ecda.eur.nl"].attendance_mode == "mixed"


def test_the_same_event_in_several_group_exports_is_emitted_once() -> None:
    real = REAL.read_bytes()
    start = real.index(b"BEGIN:VEVENT", real.index(b"event_288006255") - 2000)
    block = real[start : real.index(b"END:VEVENT", start) + len(b"END:VEVENT\n")]
    assert b"event_288006255@meetup.com" in block
    # Two more groups' exports carry the same event: once inside, once appended as a
    # second calendar (aggregators concatenate feeds).
    body = real.replace(b"END:VCALENDAR", block + b"END:VCALENDAR")
    body += b"BEGIN:VCALENDAR\nVERSION:2.0\n" + block + b"END:VCALENDAR\n"

    occurrences, rejected, stats = parse(body)

    ids = [occurrence.external_id for occurrence in occurrences]
    assert len(ids) == len(set(ids)) == 19
    assert (stats.duplicates, rejected) == (2, [])


# --- recurrence --------------------------------------------------------------------------


def test_weekly_series_with_exdate_rdate_and_overrides() -> None:
    events, rejected = mapped(OUTLOOK.read_bytes(), language="ru")

    assert rejected == []
    days = {key.rsplit("@", 1)[1][:10]: event for key, event in events.items()}
    # Wednesdays 5 Mar - 30 Apr, without the EXDATE of 19 March, plus the RDATE Friday.
    assert sorted(days) == [
        "2025-03-05", "2025-03-12", "2025-03-14", "2025-03-26", "2025-04-02",
        "2025-04-09", "2025-04-16", "2025-04-23", "2025-04-30",
    ]  # fmt: skip
    assert f"{OUTLOOK_UID}@2025-03-05T16:00:00Z" in events
    moved = days["2025-04-02"]  # keyed by its RECURRENCE-ID, held on Thursday instead
    assert moved.starts_at == utc("2025-04-03T18:30:00+03:00")
    assert moved.title.ru == "Еженедельный митап Python-сообщества (перенесён на четверг)"
    cancelled = days["2025-04-16"]
    assert cancelled.status == "cancelled"
    assert cancelled.venue is not None  # an Outlook cancellation carries no LOCATION
    assert {event.status for day, event in days.items() if day != "2025-04-16"} == {"scheduled"}


def test_outlook_windows_zone_name_becomes_iana() -> None:
    events, _ = mapped(OUTLOOK.read_bytes(), language="ru")

    first = events[f"{OUTLOOK_UID}@2025-03-05T16:00:00Z"]
    assert first.timezone == "Europe/Moscow"
    assert first.starts_at == utc("2025-03-05T19:00:00+03:00")
    assert first.ends_at == utc("2025-03-05T21:00:00+03:00")
    # The Teams link makes the meeting at the venue mixed.
    assert first.attendance_mode == "mixed"
    assert first.online_url is not None
    assert first.online_url.startswith("https://teams.microsoft.com/")
    assert first.languages == ["ru"]


def test_a_folded_cyrillic_description_survives_any_chunking() -> None:
    data = OUTLOOK.read_bytes()
    whole, _, _ = parse(data)
    expected = (
        "Еженедельная встреча московского Python-сообщества: доклады, разбор кода и "
        "нетворкинг. Тема марта — асинхронный Python, asyncio и структурная "
        "конкурентность. Вход свободный, регистрация обязательна.\nСсылка на "
        "трансляцию придёт участникам за час до начала."
    )
    assert whole[0].description == expected
    for size in (1, 2, 3, 7, 76, 77, 1000):
        chunked, _, _ = parse(split(data, size))
        assert chunked == whole, size


def test_line_unfolding_across_chunk_boundaries() -> None:
    unfolder = LineUnfolder()
    pieces = [b"\xef\xbb\xbfSUMMARY:\xd0\x9f", b"\xd1\x80\xd0\xb8\r", b"\n \xd0\xb2\xd0\xb5\xd1"]
    pieces += [b"\x82\r\n\tX\r\nUID:1"]
    lines = [line for piece in pieces for line in unfolder.feed(piece)]
    lines += list(unfolder.close())

    assert [line.decode() for line in lines] == ["SUMMARY:ПриветX", "UID:1"]


def test_all_day_conference_starts_at_local_midnight() -> None:
    rules = [{"format": "conference", "categories": ["conference"]}]
    events, _ = mapped((FIXTURES / "conference_allday.ics").read_bytes(), format_rules=rules)

    conference = events["datacon-2025@dataguild.example"]
    assert conference.all_day is True
    assert conference.timezone == "Europe/Berlin"  # the feed's X-WR-TIMEZONE
    assert conference.starts_at == utc("2025-09-16T00:00:00+02:00")
    assert conference.ends_at == utc("2025-09-19T00:00:00+02:00")  # DTEND is exclusive
    assert conference.format == "conference"
    assert conference.tags == ["Conference", "Data Engineering"]


def test_an_endless_rule_is_expanded_only_within_the_window() -> None:
    data = (FIXTURES / "conference_allday.ics").read_bytes()
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    occurrences, _, _ = parse(data, now=now, window_days_back=30, window_days_ahead=60)

    coffee = [o for o in occurrences if o.uid == "coffee@dataguild.example"]
    window_start, window_end = now - timedelta(days=30), now + timedelta(days=60)
    assert len(coffee) == 13  # the Tuesdays from 6 May to 29 July
    assert all(window_start <= o.starts_at < window_end for o in coffee)
    # Written in UTC with X-WR-TIMEZONE: the rule follows Berlin time across DST.
    assert {o.starts_at.astimezone(UTC).hour for o in coffee} == {7}
    winter, _, _ = parse(data, now=datetime(2025, 1, 1, tzinfo=UTC), window_days_ahead=10)
    assert [o.starts_at.astimezone(UTC).hour for o in winter if o.recurrence_id] == [8]


def test_a_series_is_cut_at_its_occurrence_limit() -> None:
    data = (FIXTURES / "conference_allday.ics").read_bytes()

    occurrences, _, stats = parse(data, max_occurrences_per_series=5)

    assert len([o for o in occurrences if o.recurrence_id]) == 5
    assert "series 'coffee@dataguild.example' cut at 5 occurrences" in stats.notes


def test_a_too_frequent_rule_is_rejected() -> None:
    data = (
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:spam@x\nDTSTART:20250301T000000Z\n"
        b"RRULE:FREQ=MINUTELY\nSUMMARY:Every minute\nLOCATION:Here\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    occurrences, rejected, _ = parse(data)

    assert occurrences == []
    assert [r.reason for r in rejected] == [
        "RRULE FREQ=MINUTELY is too frequent for an event listing"
    ]


def test_override_copies_keep_the_newest_sequence() -> None:
    override = (
        "BEGIN:VEVENT\nUID:s@x\nRECURRENCE-ID:20250305T160000Z\nDTSTART:20250305T170000Z\n"
        "SUMMARY:{title}\nSEQUENCE:{sequence}\nLOCATION:Here\nEND:VEVENT\n"
    )
    data = (
        "BEGIN:VCALENDAR\n"
        + override.format(title="Newer", sequence=4)
        + "BEGIN:VEVENT\nUID:s@x\nDTSTART:20250305T160000Z\nRRULE:FREQ=WEEKLY;COUNT=2\n"
        "SUMMARY:Series\nLOCATION:Here\nEND:VEVENT\n"
        + override.format(title="Older", sequence=1)
        + "END:VCALENDAR\n"
    ).encode()

    occurrences, _, stats = parse(data)

    assert [(o.recurrence_id, o.title) for o in occurrences] == [
        ("2025-03-05T16:00:00Z", "Newer"),
        ("2025-03-12T16:00:00Z", "Series"),
    ]
    assert stats.duplicates == 1


# --- zones, broken events, attendance ----------------------------------------------------


def test_time_zone_names_and_fallbacks() -> None:
    data = (FIXTURES / "zones.ics").read_bytes()
    occurrences, rejected, stats = parse(data, default_timezone="Europe/Moscow")
    found = by_uid(occurrences)

    assert rejected == []
    custom = found["custom-zone@zones.example"]  # its VTIMEZONE (+04:00) comes later
    assert custom.starts_at == utc("2025-06-10T10:00:00+04:00")
    assert custom.timezone == "Etc/GMT-4"
    assert found["w-europe@zones.example"].timezone == "Europe/Berlin"
    assert found["w-europe@zones.example"].starts_at == utc("2025-06-10T10:00:00+02:00")
    pacific = found["pacific@zones.example"]
    assert (pacific.timezone, pacific.starts_at) == (
        "America/Los_Angeles",
        utc("2025-01-15T09:00:00-08:00"),
    )
    assert found["mozilla@zones.example"].timezone == "Asia/Yekaterinburg"
    unknown = found["unknown-zone@zones.example"]  # reported, read in the default zone
    assert unknown.starts_at == utc("2025-06-10T10:00:00+03:00")
    assert "unknown TZID 'Mars/Olympus_Mons': times read in Europe/Moscow" in stats.notes
    assert found["floating@zones.example"].starts_at == utc("2025-06-10T18:00:00+03:00")


def test_feeds_sharing_a_made_up_tzid_keep_their_own_rules() -> None:
    def feed(offset: str) -> bytes:
        return (
            "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Customized Time Zone\nBEGIN:STANDARD\n"
            f"DTSTART:16010101T000000\nTZOFFSETFROM:{offset}\nTZOFFSETTO:{offset}\n"
            "END:STANDARD\nEND:VTIMEZONE\nBEGIN:VEVENT\nUID:c@x\nSUMMARY:Call\n"
            "DTSTART;TZID=Customized Time Zone:20250610T100000\nLOCATION:Office\n"
            "END:VEVENT\nEND:VCALENDAR\n"
        ).encode()

    [plus_five], _, _ = parse(feed("+0500"))
    [minus_three], _, _ = parse(feed("-0300"))

    assert plus_five.starts_at == utc("2025-06-10T10:00:00+05:00")
    assert minus_three.starts_at == utc("2025-06-10T10:00:00-03:00")
    assert minus_three.timezone == "Etc/GMT+3"


def test_broken_events_are_rejected_and_the_rest_go_on() -> None:
    events, rejected = mapped((FIXTURES / "broken_events.ics").read_bytes())

    assert {r.external_id: r.reason for r in rejected} == {
        "no-start@broken.example": "VEVENT has no DTSTART",
        "bad-start@broken.example": (
            "DTSTART: '2025-13-45' is not a date and time; iCalendar writes them as "
            "20261210T190000Z, 20261210T190000 or 20261210"
        ),
        None: "VEVENT has no UID: it cannot be told apart across syncs",
        "no-summary@broken.example": "VEVENT has no SUMMARY (title)",
        "unclosed@broken.example": "VEVENT at line 37 has no END line",
    }
    assert all(r.raw for r in rejected)  # kept for an admin to look at
    assert set(events) == {
        "good-first@broken.example",
        "bad-rrule@broken.example",  # its RRULE is ignored: a single event
        "nowhere@broken.example",  # no place and no link: kept, its place unknown
        "good-last@broken.example",
    }
    assert events["nowhere@broken.example"].attendance_mode == "unknown"
    last = events["good-last@broken.example"].venue
    assert last is not None
    assert last.location is None  # GEO out of range, ignored


def _one_event(*lines: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT"]
    body += ["UID:junk@dates.example", "SUMMARY:Meetup", "LOCATION:Main hall", *lines]
    return "\r\n".join([*body, "END:VEVENT", "END:VCALENDAR", ""]).encode()


ICS_FORMS = "iCalendar writes them as 20261210T190000Z, 20261210T190000 or 20261210"


@pytest.mark.parametrize("value", ["yesterday", "2026-12-10T19:00:00+03:00", "20261345T190000Z"])
def test_a_junk_start_is_rejected_in_plain_words_naming_the_property(value: str) -> None:
    events, rejected = mapped(_one_event(f"DTSTART:{value}"))

    assert events == {}
    assert [r.reason for r in rejected] == [
        f"DTSTART: {value!r} is not a date and time; {ICS_FORMS}"
    ]


def test_a_junk_end_is_ignored_with_a_note_in_plain_words() -> None:
    [occurrence], rejected, _ = parse(_one_event("DTSTART:20250610T160000Z", "DTEND:tomorrow"))

    assert rejected == []
    assert occurrence.ends_at is None
    assert f"DTEND ignored: 'tomorrow' is not a date and time; {ICS_FORMS}" in occurrence.notes


def test_attendance_from_locations_links_and_hints() -> None:
    events, rejected = mapped((FIXTURES / "online.ics").read_bytes())

    def mode(uid: str) -> tuple[str, str | None]:
        event = events[f"{uid}@online.example"]
        return event.attendance_mode, event.online_url

    assert mode("zoom-location") == ("online", "https://us02web.zoom.us/j/81234567890?pwd=abc")
    assert mode("meetup-online") == ("online", None)
    assert mode("hybrid") == ("mixed", None)
    assert mode("place-and-meet") == ("mixed", "https://meet.google.com/abc-defg-hij")
    assert mode("russian-online") == ("online", None)
    assert mode("page-only") == ("unknown", None)  # a page says nothing of where
    assert mode("schema-hint") == ("online", None)
    assert mode("maps-link") == ("unknown", None)
    assert rejected == []


def test_format_rules_match_categories_then_keywords() -> None:
    rules = [
        {"format": "hackathon", "categories": ["хакатон"]},
        {"format": "educational", "keywords": ["webinar", "intro to"]},
    ]
    events, _ = mapped((FIXTURES / "online.ics").read_bytes(), format_rules=rules)

    assert events["place-and-meet@online.example"].format == "hackathon"
    assert events["zoom-location@online.example"].format == "educational"
    assert events["hybrid@online.example"].format == "meetup"  # the default


def test_memory_does_not_grow_with_the_feed() -> None:
    def feed(events: int) -> Iterator[bytes]:
        yield b"BEGIN:VCALENDAR\r\n"
        for number in range(events):
            yield (
                f"BEGIN:VEVENT\r\nUID:{number}@bulk.example\r\nDTSTART:20250610T160000Z\r\n"
                f"SUMMARY:Bulk event {number}\r\nDESCRIPTION:{'x' * 900}\r\n"
                f"LOCATION:Hall {number}\r\nEND:VEVENT\r\n"
            ).encode()
        yield b"END:VCALENDAR\r\n"

    def peak(events: int) -> int:
        parser = FeedParser(ParseOptions(now=NOW))
        tracemalloc.start()
        try:
            count = sum(1 for chunk in feed(events) for _ in parser.feed(chunk))
            count += sum(1 for _ in parser.close())
            assert count == events
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(100), peak(1000)

    # 900 more events of ~1 KB each: what remains per event is the UID digest that
    # drops duplicates (~100 bytes), not the event.
    assert large - small < 900 * 200


def test_not_a_calendar_is_fatal_and_a_cut_body_retriable() -> None:
    with pytest.raises(FatalError, match="not an iCalendar feed"):
        parse(b"<!doctype html><html><body>Sign in</body></html>")
    with pytest.raises(FatalError, match="no BEGIN:VCALENDAR"):
        parse(b"")
    cut = REAL.read_bytes()[:5000]
    with pytest.raises(RetriableError, match="cut short"):
        parse(cut)
    with_footer, _, _ = parse(REAL.read_bytes() + b"<!-- served from cache -->\n")
    assert len(with_footer) == 19  # text after END:VCALENDAR is ignored


def test_config_is_checked_when_the_source_is_registered() -> None:
    with pytest.raises(ValidationError, match="default_timezone"):
        config(default_timezone="Europe")
    with pytest.raises(ValidationError, match="extra"):
        config(window_days=10)
    with pytest.raises(ValidationError, match="categories"):
        config(format_rules=[{"format": "meetup"}])
    with pytest.raises(FatalError, match="source id"):
        IcsFeedConnector("Not A Valid Id", config(), SafeFetcher())


# --- the stream over loopback HTTP -------------------------------------------------------


@pytest.fixture
def real_feed() -> bytes:
    return REAL.read_bytes()


@pytest.fixture
def outlook_feed() -> bytes:
    return OUTLOOK.read_bytes()


async def run(stream: IcsFeedStream, state: dict[str, Any] | None) -> list[Emitted]:
    return [item async for item in stream.records(state)]


def listings(items: list[Emitted]) -> list[Listing]:
    return [item for item in items if isinstance(item, Listing)]


async def test_second_run_with_the_stored_etag_yields_only_a_checkpoint(
    fetcher: SafeFetcher, real_feed: bytes
) -> None:
    routes = {"/dutch.ics": conditional(real_feed, '"v1"', "text/calendar")}
    async with loopback_server(routes) as server:
        settings = config(url=server.url("/dutch.ics"), organizers=["dutch-data-science"])
        connector = IcsFeedConnector("nl-ds-ics", settings, fetcher, now=lambda: NOW)
        [stream] = connector.streams()
        assert isinstance(stream, IcsFeedStream)

        first = await run(stream, None)
        final = first[-1]
        assert isinstance(final, Checkpoint)
        assert final.state["etag"] == '"v1"'
        assert len(listings(first)) == 19
        assert {listing.fetched_at for listing in listings(first)} == {NOW}

        second = await run(stream, final.state)

    assert second == [Checkpoint(final.state)]
    assert stream.report.not_modified is True
    assert server.seen["/dutch.ics"][1].headers["if-none-match"] == '"v1"'


async def test_unchanged_occurrences_are_not_emitted_again(
    fetcher: SafeFetcher, outlook_feed: bytes
) -> None:
    body = {"feed": outlook_feed}  # served without validators: always 200

    def handler(request: Request) -> Response:
        return Response(body["feed"], media_type="text/calendar")

    async with loopback_server({"/team.ics": handler}) as server:
        stream = IcsFeedStream(
            "team", config(url=server.url("/team.ics"), language="ru"), fetcher, now=lambda: NOW
        )
        first = await run(stream, None)
        state = first[-1]
        assert isinstance(state, Checkpoint)
        assert "etag" not in state.state
        assert len(state.state["fingerprints"]) == 9

        again = await run(stream, state.state)
        assert listings(again) == []
        assert stream.report.unchanged == 9

        # A new SEQUENCE of the master changes every expanded occurrence it makes;
        # the two overrides carry their own SEQUENCE and stay unchanged.
        body["feed"] = body["feed"].replace(b"SEQUENCE:2", b"SEQUENCE:5")
        changed = await run(stream, state.state)

    assert len(listings(changed)) == 7
    assert stream.report.unchanged == 2


async def test_checkpoints_during_a_run_keep_the_validators_it_started_with(
    fetcher: SafeFetcher, real_feed: bytes
) -> None:
    routes = {"/dutch.ics": conditional(real_feed, '"v2"', "text/calendar")}
    async with loopback_server(routes) as server:
        settings = config(url=server.url("/dutch.ics"), checkpoint_every=5)
        stream = IcsFeedStream("nl-ds-ics", settings, fetcher, now=lambda: NOW)
        items = await run(stream, {"etag": '"v1"'})

    checkpoints = [item.state for item in items if isinstance(item, Checkpoint)]
    assert [len(state["fingerprints"]) for state in checkpoints] == [5, 10, 15, 19]
    # Stopped half-way, the next run must not be told "304": the old ETag stays.
    assert [state["etag"] for state in checkpoints] == ['"v1"', '"v1"', '"v1"', '"v2"']
    assert isinstance(items[-1], Checkpoint)


async def test_an_html_page_instead_of_a_feed_fails_the_run(fetcher: SafeFetcher) -> None:
    routes = {"/login": lambda request: Response(b"<html>Sign in</html>", media_type="text/html")}
    async with loopback_server(routes) as server:
        stream = IcsFeedStream("x", config(url=server.url("/login")), fetcher, now=lambda: NOW)
        with pytest.raises(FatalError, match="not an iCalendar feed"):
            await run(stream, None)
