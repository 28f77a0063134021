"""Events: default upcoming view, time windows, typed filters, geo radius, nesting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import GraphQLClient

EVENTS = """
query($filter: EventFilter, $sort: EventSort, $first: Int, $after: String) {
  events(filter: $filter, sort: $sort, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id title startsAt endsAt timezone allDay format attendanceMode status
      venue { city country location { lat lon } } onlineUrl
      organizers { slug }
    } }
  }
}
"""
ALL_TIME = {"from": "2000-01-01T00:00:00Z"}


async def _events(api: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    data = await api.data(EVENTS, {"first": 100, **variables})
    return [edge["node"] for edge in data["events"]["edges"]]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_default_view_is_upcoming_in_start_order(api: GraphQLClient) -> None:
    events = await _events(api)
    starts = [_at(e["startsAt"]) for e in events]
    assert starts
    assert starts == sorted(starts)
    assert min(starts) >= datetime.now(UTC) - timedelta(minutes=5)
    everything = await _events(api, filter=ALL_TIME)
    assert len(everything) > len(events)


async def test_time_window_and_descending_sort(api: GraphQLClient) -> None:
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=90)).isoformat(), "to": now.isoformat()}
    past = await _events(api, filter=window, sort="STARTS_AT_DESC")
    starts = [_at(e["startsAt"]) for e in past]
    assert starts
    assert starts == sorted(starts, reverse=True)
    assert all(now - timedelta(days=90) <= s < now for s in starts)


async def test_typed_filters(api: GraphQLClient) -> None:
    online = await _events(api, filter={**ALL_TIME, "attendanceModes": ["ONLINE"]})
    assert online
    assert {e["attendanceMode"] for e in online} == {"ONLINE"}
    cancelled = await _events(api, filter={**ALL_TIME, "statuses": ["CANCELLED"]})
    assert cancelled
    assert {e["status"] for e in cancelled} == {"CANCELLED"}
    hackathons = await _events(api, filter={**ALL_TIME, "formats": ["HACKATHON", "MEETUP"]})
    assert {e["format"] for e in hackathons} == {"HACKATHON", "MEETUP"}
    german = await _events(api, filter={**ALL_TIME, "countries": ["DE"]})
    assert german
    assert {e["venue"]["country"] for e in german} == {"DE"}
    petersburg = await _events(api, filter={**ALL_TIME, "city": "санкт-петербург"})
    assert petersburg
    assert {e["venue"]["city"] for e in petersburg} == {"Санкт-Петербург"}


async def test_events_keep_their_time_zone_and_utc_start(api: GraphQLClient) -> None:
    events = await _events(api, filter=ALL_TIME)
    zones = {e["timezone"] for e in events}
    assert {"Europe/Moscow", "Asia/Novosibirsk", "America/New_York"} <= zones
    assert all(e["startsAt"].endswith("+00:00") for e in events)
    assert any(e["allDay"] for e in events)


async def test_near_finds_events_within_the_radius_only(api: GraphQLClient) -> None:
    moscow = {**ALL_TIME, "near": {"lat": 55.75, "lon": 37.62, "radiusKm": 60}}
    near = await _events(api, filter=moscow)
    assert near
    assert all(abs(e["venue"]["location"]["lat"] - 55.75) < 1 for e in near)
    assert {e["venue"]["city"] for e in near} <= {"Москва", "Сколково", "Зеленоград"}


async def test_filter_by_organizer(api: GraphQLClient) -> None:
    data = await api.data('{ community(slug: "skolkovo-innovation-center") { id } }')
    organizer = data["community"]["id"]
    events = await _events(api, filter={**ALL_TIME, "organizer": organizer})
    assert events
    assert all("skolkovo-innovation-center" in {o["slug"] for o in e["organizers"]} for e in events)


async def test_community_events_default_to_upcoming_and_accept_filters(
    api: GraphQLClient,
) -> None:
    query = """query($filter: CommunityEventFilter) {
      community(slug: "skolkovo-innovation-center") {
        upcoming: events(first: 10) { totalCount edges { node { startsAt } } }
        everything: events(filter: $filter, first: 2) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { id } } }
      } }"""
    data = (await api.data(query, {"filter": ALL_TIME}))["community"]
    now = datetime.now(UTC) - timedelta(minutes=5)
    assert all(_at(e["node"]["startsAt"]) >= now for e in data["upcoming"]["edges"])
    assert data["everything"]["totalCount"] > data["upcoming"]["totalCount"] > 0
    cursor = data["everything"]["pageInfo"]["endCursor"]
    next_query = """query($filter: CommunityEventFilter, $after: String) {
      community(slug: "skolkovo-innovation-center") {
        events(filter: $filter, first: 2, after: $after) { edges { node { id } } } } }"""
    following = await api.data(next_query, {"filter": ALL_TIME, "after": cursor})
    first_ids = {e["node"]["id"] for e in data["everything"]["edges"]}
    next_ids = {e["node"]["id"] for e in following["community"]["events"]["edges"]}
    assert next_ids
    assert not first_ids & next_ids


async def test_event_by_id_and_node(api: GraphQLClient) -> None:
    first = (await _events(api))[0]
    data = await api.data(
        "query($id: ID!) { event(id: $id) { title } node(id: $id) { ... on Event { title } } }",
        {"id": first["id"]},
    )
    assert data["event"]["title"] == first["title"] == data["node"]["title"]


DATE_HINT = "is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"


async def test_a_junk_date_argument_is_refused_in_plain_words(api: GraphQLClient) -> None:
    inline = await api.query('query { events(filter: {from: "yesterday"}) { totalCount } }')
    passed = await api.query(EVENTS, {"filter": {"to": "next week"}})

    [error] = inline["errors"]
    assert error["message"] == f"filter.from: 'yesterday' {DATE_HINT}"
    assert error["locations"] == [{"line": 1, "column": 31}]
    [error] = passed["errors"]
    assert error["message"] == (
        f"Variable '$filter' has invalid value at .to: 'next week' {DATE_HINT}"
    )
