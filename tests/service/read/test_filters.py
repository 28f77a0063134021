"""Filters the read model answers from the entities' own fields, kept current by their
writes (no field on the stored community is maintained for them)."""

from __future__ import annotations

from typing import Any

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.storage.collections import Database
from tests.conftest import GraphQLClient

UPCOMING = """query($has: Boolean!) {
  communities(filter: {hasUpcomingEvents: $has}, first: 10) { edges { node { slug } } }
}"""


def _community(external_id: str) -> Listing:
    payload = {
        "name": {"en": external_id.title()},
        "kind": "professional",
        "form": "association",
        "website": f"https://{external_id}.example",
    }
    return Listing(
        entity=EntityType.COMMUNITY, source_id="src", external_id=external_id, payload=payload
    )


def _event(external_id: str, organizer: str, starts_at: str, status: str = "scheduled") -> Listing:
    payload: dict[str, Any] = {
        "title": {"en": f"Event {external_id}"},
        "format": "meetup",
        "starts_at": starts_at,
        "timezone": "Europe/Moscow",
        "attendance_mode": "online",
        "online_url": "https://meet.example/x",
        "organizers": [organizer],
        "status": status,
    }
    return Listing(
        entity=EntityType.EVENT, source_id="src", external_id=external_id, payload=payload
    )


async def _with_upcoming(api: GraphQLClient, has: bool) -> set[str]:
    data = await api.data(UPCOMING, {"has": has})
    return {edge["node"]["slug"] for edge in data["communities"]["edges"]}


async def test_has_upcoming_events_counts_live_events_only_and_follows_changes(
    db: Database, fresh_api: GraphQLClient
) -> None:
    await ingest(db, [_community("old"), _community("new")])
    await ingest(
        db,
        [
            _event("cancelled", "old", "2031-06-10T19:00:00+03:00", "cancelled"),
            _event("past", "new", "2020-03-10T19:00:00+03:00"),
        ],
    )
    # A cancelled event and a past one make no upcoming events.
    assert await _with_upcoming(fresh_api, True) == set()
    assert await _with_upcoming(fresh_api, False) == {"old", "new"}

    await ingest(db, [_event("postponed", "old", "2031-05-10T19:00:00+03:00", "postponed")])
    assert await _with_upcoming(fresh_api, True) == {"old"}

    # The event moves to the other organizer: both communities follow.
    await ingest(db, [_event("postponed", "new", "2031-05-10T19:00:00+03:00", "postponed")])
    assert await _with_upcoming(fresh_api, True) == {"new"}
    assert await _with_upcoming(fresh_api, False) == {"old"}

    # Cancelled, it counts no more.
    await ingest(db, [_event("postponed", "new", "2031-05-10T19:00:00+03:00", "cancelled")])
    assert await _with_upcoming(fresh_api, True) == set()
