from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.framework.contract import Checkpoint, Emitted, Fetched, Rejected, Stream
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.net.fetcher import SafeFetcher
from connectors.web.community import community_payload, is_community
from connectors.web.config import JsonLdPagesConfig
from connectors.web.event import event_payload, event_when, is_event
from connectors.web.html import extract_jsonld, html_to_text
from connectors.web.jsonld_pages import JsonLdPagesConnector
from connectors.web.values import read_page
from schema.models import CommunityData, EventData, Listing
from tests.connectors.loopback import conditional, loopback_server

REAL = Path("/work/shared/fixtures/real")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonld"
SONGKICK_URL = "https://www.songkick.com/concerts/25248299-elysian-fields-at-owl-music-parlor"
GRAPH_URL = "https://osdev-association.example.org/events/"
ORG_ID = "https://osdev-association.example.org/#organization"

HTML = "text/html; charset=utf-8"


def config(**overrides: Any) -> JsonLdPagesConfig:
    values: dict[str, Any] = {"urls": ["https://example.org/"], "language": "en"} | overrides
    return JsonLdPagesConfig.model_validate(values)


def page_of(body: bytes | str, url: str) -> Any:
    found = extract_jsonld(body)
    assert found.errors == []
    return read_page(url, found.blocks)


def events(body: bytes | str, url: str, cfg: JsonLdPagesConfig) -> list[dict[str, Any]]:
    page = page_of(body, url)
    return [event_payload(page, node, cfg) for node in page.nodes if is_event(page, node)]


def communities(body: bytes | str, url: str, cfg: JsonLdPagesConfig) -> list[dict[str, Any]]:
    page = page_of(body, url)
    return [
        community_payload(page, node, cfg) for node in page.nodes if is_community(page, node, cfg)
    ]


def event_page(**node: Any) -> str:
    event = {"@context": "https://schema.org", "@type": "Event", "name": "Meetup"} | node
    return f'<script type="application/ld+json">{json.dumps(event)}</script>'


def one_event(cfg: JsonLdPagesConfig | None = None, **node: Any) -> EventData:
    [payload] = events(event_page(**node), "https://example.org/e", cfg or config())
    return EventData.model_validate(payload)


# -- the real Songkick page -------------------------------------------------------------


def test_the_songkick_page_yields_exactly_the_expected_jsonld() -> None:
    found = extract_jsonld((REAL / "songkick_event_page_jsonld.html").read_bytes())
    expected = json.loads((REAL / "songkick_event_page_jsonld.expected.json").read_text())
    assert found.errors == []
    assert found.blocks == [expected]


def test_the_songkick_music_event_maps_to_one_event_with_its_values() -> None:
    expected = json.loads((REAL / "songkick_event_page_jsonld.expected.json").read_text())[0]
    body = (REAL / "songkick_event_page_jsonld.html").read_bytes()
    [payload] = events(body, SONGKICK_URL, config())
    event = EventData.model_validate(payload)
    place, address = expected["location"], expected["location"]["address"]
    assert event.title.en == expected["name"]
    assert event.format == "social"  # MusicEvent
    # "-0400" has no colon; the instant is kept exactly, in the zone of the venue's GEO.
    assert event.starts_at == datetime(2015, 10, 31, 23, 30, tzinfo=UTC)
    assert event.timezone == "America/New_York"
    assert event.all_day is False
    assert event.attendance_mode == "offline"
    assert event.status == "scheduled"
    assert event.url == expected["url"]
    assert event.venue is not None
    assert event.venue.name == place["name"]
    assert event.venue.address == address["streetAddress"]
    assert event.venue.city == address["addressLocality"]
    assert event.venue.country == address["addressCountry"]
    assert event.venue.location is not None
    assert event.venue.location.lat == place["geo"]["latitude"]
    assert event.venue.location.lon == place["geo"]["longitude"]


def test_a_matching_default_timezone_names_the_zone_of_an_offset() -> None:
    body = (REAL / "songkick_event_page_jsonld.html").read_bytes()
    [payload] = events(body, SONGKICK_URL, config(default_timezone="America/New_York"))
    event = EventData.model_validate(payload)
    assert event.timezone == "America/New_York"
    assert event.starts_at == datetime(2015, 10, 31, 23, 30, tzinfo=UTC)


# -- an @graph page: an NGO and two events ------------------------------------------------


def test_a_graph_page_gives_its_events_and_ignores_web_page_nodes() -> None:
    body = (FIXTURES / "community_graph.html").read_bytes()
    cancelled, online = (
        EventData.model_validate(p) for p in events(body, GRAPH_URL, config(language="ru"))
    )

    assert cancelled.title.ru == "Весенний саммит открытого ПО 2026"
    assert cancelled.format == "conference"  # BusinessEvent
    assert cancelled.status == "cancelled"  # full URL form
    assert cancelled.attendance_mode == "offline"
    assert cancelled.starts_at == datetime(2026, 4, 14, 7, 0, tzinfo=UTC)
    assert cancelled.ends_at == datetime(2026, 4, 14, 15, 0, tzinfo=UTC)
    assert cancelled.venue is not None
    assert cancelled.venue.name == "Кластер «Ломоносов»"
    assert cancelled.venue.city == "Москва"
    assert cancelled.venue.country == "RU"
    assert cancelled.venue.location is not None
    assert (cancelled.venue.location.lat, cancelled.venue.location.lon) == (55.6935, 37.5327)
    assert cancelled.price is not None
    assert (cancelled.price.amount, cancelled.price.currency) == (3500, "RUB")
    assert cancelled.is_free is False
    assert cancelled.organizers == [ORG_ID]  # an {"@id"} reference into the graph
    assert cancelled.languages == ["ru"]
    assert cancelled.tags == ["open source", "лицензии", "сопровождение"]

    assert online.format == "educational"
    assert online.status == "scheduled"  # short form
    assert online.attendance_mode == "online"
    assert online.online_url == "https://osdev-association.example.org/live/webinar-sbom"
    assert online.venue is None
    assert online.is_free is True
    assert online.price is None
    assert online.languages == ["ru", "en"]


def test_a_graph_page_gives_its_ngo_as_a_community() -> None:
    body = (FIXTURES / "community_graph.html").read_bytes()
    [payload] = communities(body, GRAPH_URL, config(language="ru"))
    ngo = CommunityData.model_validate(payload)
    assert ngo.name.ru == "Ассоциация разработчиков открытого программного обеспечения"
    assert (ngo.form, ngo.kind) == ("association", "professional")
    assert ngo.aliases == [
        "АРОПО",
        "OSDev Association",
        "Некоммерческое партнёрство «Ассоциация разработчиков открытого программного обеспечения»",
    ]
    assert ngo.description is not None
    assert ngo.description.ru is not None
    assert "Митапы, экспертиза для\u00a0регуляторов" not in ngo.description.ru
    assert "Митапы, экспертиза для регуляторов" in ngo.description.ru  # tags and &nbsp; gone
    assert ngo.website == "https://osdev-association.example.org/"
    assert [(c.type, c.url) for c in ngo.channels] == [
        ("social", "https://vk.com/osdev_association"),
        ("messenger", "https://t.me/osdev_association"),
        ("social", "https://github.com/osdev-association"),
    ]
    assert [(i.scheme, i.value) for i in ngo.identifiers] == [
        ("wikidata", "Q4115189"),
        ("tax_id", "7704123456"),
    ]
    assert (ngo.city, ngo.region, ngo.countries) == ("Москва", "Москва", ["RU"])
    assert ngo.founded_year == 2012
    assert ngo.member_count == 340
    assert ngo.member_of == ["https://open-source-alliance.example.org/#organization"]


# -- array-typed hackathon, all-day, mixed ---------------------------------------------------


def test_an_array_typed_hackathon_with_a_prefixed_context() -> None:
    body = (FIXTURES / "hackathon_array_type.html").read_bytes()
    url = "https://civichack.example.org/2026/"
    [payload] = events(body, url, config(default_timezone="Europe/Moscow"))
    event = EventData.model_validate(payload)
    assert event.format == "hackathon"
    assert event.title.ru == "Civic Hack «Северное сияние» 2026"
    assert event.title.en == "Northern Lights Civic Hack 2026"
    assert event.description is not None
    assert event.description.en is not None
    assert "\nTeams of 3–5" in event.description.en  # a raw newline inside the JSON string
    assert event.status == "scheduled"  # "sdo:EventScheduled", sdo declared in @context
    assert event.attendance_mode == "mixed"
    # Date-only: all day, in the source's zone; endDate is the last day (inclusive).
    assert event.all_day is True
    assert event.timezone == "Europe/Moscow"
    assert event.starts_at == datetime(2026, 9, 11, 21, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2026, 9, 13, 21, 0, tzinfo=UTC)
    assert event.venue is not None
    assert (event.venue.name, event.venue.city, event.venue.country) == (
        "Technopolis Hall",
        "Murmansk",
        "RU",
    )
    assert event.venue.location is not None
    assert event.venue.location.lat == 68.9707
    assert event.online_url == "https://stream.civichack.example.org/2026"
    assert event.organizers == ["https://civictech-murmansk.example.org/"]  # the Person is not
    assert event.is_free is True
    assert event.languages == ["ru", "en"]
    assert event.url == "https://civichack.example.org/2026/"


# -- a broken block next to a good one ------------------------------------------------------


def test_a_broken_block_is_reported_and_the_good_one_is_still_used() -> None:
    found = extract_jsonld((FIXTURES / "broken_and_good.html").read_bytes())
    [error] = found.errors
    assert error.index == 0
    assert "BreadcrumbList" in error.text
    [block] = found.blocks
    page = read_page("https://seminars.example.ru/ib-2026", found.blocks)
    cfg = config(language="ru", default_timezone="Asia/Novosibirsk")
    event = EventData.model_validate(event_payload(page, page.nodes[0], cfg))
    assert block["@type"] == "EducationEvent"
    assert event.format == "educational"
    # No offset: wall-clock time in the source's zone (UTC+7).
    assert event.timezone == "Asia/Novosibirsk"
    assert event.starts_at == datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    assert event.venue is not None
    assert event.venue.name == "Технопарк «Академпарк»"
    assert event.venue.address == "Новосибирск, ул. Николаева, 12"
    assert event.price is not None
    assert (event.price.amount, event.price.currency) == (12000, "RUB")  # the lowest offer
    assert event.organizers == ["https://seminars.example.ru/#org"]


def test_a_page_without_jsonld_has_no_blocks() -> None:
    found = extract_jsonld((FIXTURES / "no_jsonld.html").read_bytes())
    assert (found.blocks, found.errors) == ([], [])


def test_a_hostile_nesting_depth_is_a_block_error_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    found = extract_jsonld(f'<script type="application/ld+json">{deep}</script>')
    [error] = found.errors
    assert "deep" in error.message


# -- values as sites write them --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("https://schema.org/EventCancelled", "cancelled"),
        ("http://schema.org/EventPostponed", "postponed"),
        ("EventMovedOnline", "moved_online"),
        ("schema:EventRescheduled", "scheduled"),
        ({"@id": "https://schema.org/EventCancelled"}, "cancelled"),
    ],
)
def test_event_status_in_every_form(status: Any, expected: str) -> None:
    event = one_event(
        eventStatus=status, startDate="2026-01-01T10:00Z", location="https://meet.example/x"
    )
    assert event.status == expected


def test_a_cancelled_event_moved_online_is_online_without_a_mode() -> None:
    event = one_event(eventStatus="EventMovedOnline", startDate="2026-01-01T10:00Z")
    assert (event.status, event.attendance_mode) == ("moved_online", "online")


def test_free_offers_and_country_objects() -> None:
    event = one_event(
        startDate="2026-01-01",
        offers=[{"@type": "Offer", "price": "0", "priceCurrency": "EUR"}],
        location={
            "@type": "Place",
            "name": "Hall",
            "address": {
                "@type": "PostalAddress",
                "addressCountry": {"@type": "Country", "name": "Germany"},
            },
        },
    )
    assert (event.is_free, event.price) == (True, None)
    assert event.venue is not None
    assert event.venue.country == "DE"
    assert (event.all_day, event.ends_at) == (True, None)


def test_an_event_of_unknown_mode_takes_the_source_default() -> None:
    event = one_event(config(default_attendance_mode="online"), startDate="2026-01-01T10:00Z")
    assert event.attendance_mode == "online"


@pytest.mark.parametrize(
    ("types", "form", "kind"),
    [
        ("Consortium", "consortium", "corporate"),
        ("WorkersUnion", "association", "professional"),
        ("GovernmentOrganization", "regulator", "national"),
        ("http://schema.org/CollegeOrUniversity", "educational_community", "professional"),
        (["Organization", "ResearchOrganization"], "professional_group", "specialized"),
        ("Organization", "association", "professional"),
    ],
)
def test_community_form_and_kind_by_type(types: Any, form: str, kind: str) -> None:
    org = {"@context": "http://schema.org", "@type": types, "name": "Guild"}
    body = f'<script type="application/ld+json">{json.dumps(org)}</script>'
    [payload] = communities(body, "https://example.org/", config())
    assert (payload["form"], payload["kind"]) == (form, kind)


def test_config_overrides_the_table_and_admits_new_types() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "Organization", "name": "Coffee & Code"},
            {"@type": "ProfessionalService", "name": "Law Guild"},
            {"@type": "Restaurant", "name": "Not a community"},
        ],
    }
    body = f'<script type="application/ld+json">{json.dumps(graph)}</script>'
    cfg = config(
        form_by_type={"Organization": "coffee_meetup", "ProfessionalService": "professional_group"}
    )
    found = communities(body, "https://example.org/", cfg)
    assert [(p["name"]["en"], p["form"]) for p in found] == [
        ("Coffee & Code", "coffee_meetup"),
        ("Law Guild", "professional_group"),
    ]


def test_config_names_the_bad_field() -> None:
    with pytest.raises(ValidationError, match="default_timezone"):
        config(default_timezone="Moscow")
    with pytest.raises(ValidationError, match="form_by_type"):
        config(form_by_type={"NGO": "club"})


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    text = html_to_text("<p>One &amp; two</p><script>var x = 1;</script><p>three<br>four</p>")
    assert text == "One & two\n\nthree\nfour"


# -- the connector over loopback HTTP --------------------------------------------------------


async def run(stream: Stream, state: dict[str, Any] | None) -> list[Emitted]:
    return [item async for item in stream.records(state)]


async def test_the_connector_reads_several_pages_and_checkpoints_each(
    fetcher: SafeFetcher,
) -> None:
    graph = (FIXTURES / "community_graph.html").read_bytes()
    routes = {
        "/songkick": conditional(
            (REAL / "songkick_event_page_jsonld.html").read_bytes(), '"s1"', HTML
        ),
        "/graph": conditional(graph, '"g1"', HTML),
        "/graph-again": conditional(graph, '"g2"', HTML),  # the same records on a second page
        "/broken": conditional((FIXTURES / "broken_and_good.html").read_bytes(), '"b1"', HTML),
        "/none": conditional((FIXTURES / "no_jsonld.html").read_bytes(), '"n1"', HTML),
    }
    async with loopback_server(routes) as server:
        cfg = config(language="ru", urls=[server.url(path) for path in routes])
        events_stream, communities_stream = JsonLdPagesConnector("osdev", cfg, fetcher).streams()
        assert (events_stream.name, communities_stream.name) == ("events", "communities")

        first = await run(events_stream, None)
        listings = [item for item in first if isinstance(item, Listing)]
        assert [item.external_id for item in listings] == [
            "http://www.songkick.com/concerts/25248299-elysian-fields-at-owl-music-parlor"
            "?utm_medium=organic&utm_source=microformat",
            "https://osdev-association.example.org/events/spring-summit-2026/#event",
            "https://osdev-association.example.org/events/webinar-sbom/#event",
            server.url("/broken#0"),  # no @id, no url: the page and the node's index
        ]
        assert {item.source_id for item in listings} == {"osdev"}
        [rejected] = [item for item in first if isinstance(item, Rejected)]
        assert rejected.reason.startswith(f"invalid JSON-LD block 0 on {server.url('/broken')}")
        checkpoints = [item.state for item in first if isinstance(item, Checkpoint)]
        assert [c.get("position") for c in checkpoints] == [1, 2, 3, 4, 5, None]
        final = checkpoints[-1]
        assert final["pages"][server.url("/graph")] == {"etag": '"g1"'}
        assert "position" not in final

        [org] = [item for item in await run(communities_stream, None) if isinstance(item, Listing)]
        assert (org.external_id, org.entity) == (ORG_ID, "community")

        # A second run sends the validators; unchanged pages answer 304 and yield nothing.
        again = await run(events_stream, final)
        assert [type(item) for item in again] == [Checkpoint] * 6
        assert again[-1] == Checkpoint(final)
        assert server.seen["/graph"][-1].headers["if-none-match"] == '"g1"'


async def test_a_resumed_run_starts_at_the_checkpointed_page(fetcher: SafeFetcher) -> None:
    routes = {
        "/a": conditional((FIXTURES / "no_jsonld.html").read_bytes(), '"a"', HTML),
        "/b": conditional((FIXTURES / "hackathon_array_type.html").read_bytes(), '"b"', HTML),
    }
    async with loopback_server(routes) as server:
        cfg = config(urls=[server.url("/a"), server.url("/b")], entities="events")
        [stream] = JsonLdPagesConnector("civic", cfg, fetcher).streams()
        emitted = await run(stream, {"pages": {}, "position": 1})
        assert "/a" not in server.seen
        [listing] = [item for item in emitted if isinstance(item, Listing)]
        assert listing.external_id == server.url("/2026/#hackathon")


async def test_an_unusable_event_is_rejected_with_its_reason(fetcher: SafeFetcher) -> None:
    nodes = [
        {"@type": "Event", "name": "No date", "location": "Hall"},
        {
            "@type": "Event",
            "name": "Backwards",
            "startDate": "2026-01-02T10:00Z",
            "endDate": "2026-01-01T10:00Z",
            "location": "Hall",
        },
    ]
    body = f'<script type="application/ld+json">{json.dumps(nodes)}</script>'.encode()
    async with loopback_server({"/p": conditional(body, '"p"', HTML)}) as server:
        cfg = config(urls=[server.url("/p")], entities="events")
        [stream] = JsonLdPagesConnector("x", cfg, fetcher).streams()
        rejected = [item for item in await run(stream, None) if isinstance(item, Rejected)]
    assert [r.reason.split(" (on")[0] for r in rejected] == [
        "the event has no startDate",
        "payload: Value error, ends_at is before starts_at",
    ]
    assert [r.external_id for r in rejected] == [server.url("/p#0"), server.url("/p#1")]


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        ({"startDate": "yesterday"}, "startDate: 'yesterday'"),
        ({"startDate": "2026-13-45T19:00"}, "startDate: '2026-13-45T19:00'"),
        ({"startDate": "2026-12-10T19:00", "endDate": "soon"}, "endDate: 'soon'"),
    ],
)
def test_a_junk_date_is_rejected_in_plain_words_naming_the_property(
    node: dict[str, str], reason: str
) -> None:
    with pytest.raises(SkippableRecord) as caught:
        event_when({"@type": "Event", **node}, "UTC")
    assert caught.value.reason == (
        f"{reason} is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"
    )


# -- the stream without HTTP: pages served from memory --------------------------------------


class MemoryFetcher:
    """Answers GETs from a dict; enough for stream logic that needs no real HTTP."""

    def __init__(self, pages: dict[str, tuple[bytes, str]]) -> None:
        self.pages = pages

    async def get(self, url: str, **_: Any) -> Fetched:
        body, content_type = self.pages[url]
        return Fetched(url, 200, body, {"content-type": content_type})


async def listings_of(body: bytes, content_type: str = "text/html") -> list[Emitted]:
    url = "https://example.org/list"
    fetcher = MemoryFetcher({url: (body, content_type)})
    cfg = config(urls=[url], entities="events")
    [stream] = JsonLdPagesConnector("mem", cfg, fetcher).streams()  # type: ignore[arg-type]
    return await run(stream, None)


async def test_an_item_list_of_events_sharing_one_url_keeps_each_date() -> None:
    session = {"@type": "Event", "name": "Python clinic", "url": "/clinic", "location": "Lab"}
    listing = {
        "@context": "https://schema.org",
        "@type": "ItemList",
        "itemListElement": [
            {"@type": "ListItem", "position": 1, "item": session | {"startDate": "2026-03-02"}},
            {"@type": "ListItem", "position": 2, "item": session | {"startDate": "2026-03-09"}},
            {"@type": "ListItem", "position": 3, "item": session | {"startDate": "2026-03-02"}},
            {"@type": "ListItem", "position": 4, "url": "https://example.org/elsewhere"},
        ],
    }
    body = f'<script type="application/ld+json">{json.dumps(listing)}</script>'.encode()
    found = [item for item in await listings_of(body) if isinstance(item, Listing)]
    # The third repeats the first (same id, same start) and is dropped.
    assert [item.external_id for item in found] == [
        "https://example.org/clinic",
        "https://example.org/clinic#2026-03-09T00:00:00",
    ]


async def test_a_jsonld_document_served_as_such_is_read_whole() -> None:
    event = {"@context": "https://schema.org", "@type": "Event", "name": "Raw", "url": "/raw"}
    body = json.dumps(event | {"startDate": "2026-05-05T18:00Z", "location": "Hall"}).encode()
    [listing, *_] = await listings_of(body, "application/ld+json")
    assert isinstance(listing, Listing)
    assert listing.external_id == "https://example.org/raw"


async def test_a_corrupt_checkpoint_is_fatal() -> None:
    cfg = config(urls=["https://example.org/"])
    [stream, _] = JsonLdPagesConnector("mem", cfg, MemoryFetcher({})).streams()  # type: ignore[arg-type]
    with pytest.raises(FatalError, match="not a JSON-LD pages state"):
        await run(stream, {"pages": ["https://example.org/"]})
