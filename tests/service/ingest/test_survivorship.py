"""Survivorship: which source's value each field of a shared entity shows (real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pydantic import ValidationError

from schema.models import Listing
from schema.taxonomy import EntityType
from service.admin.matches import merge
from service.ingest.pipeline import ingest
from service.ingest.split import split_off
from service.ingest.survivorship import Priority, contribution, resolve
from service.ingest.withdrawal import withdraw_listings
from service.storage.collections import COMMUNITIES, EVENTS, Database
from service.sync.sources import PUSH, Family, SourceSpec, add_source
from tests.conftest import GraphQLClient

EARLY = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
LATE = EARLY + timedelta(days=2)
INN = {"scheme": "inn", "value": "7704123456"}


def _community(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": {"ru": name},
        "kind": "national",
        "form": "association",
        "identifiers": [INN],
        **extra,
    }


def _listing(
    source: str, external_id: str, payload: dict[str, Any], fetched_at: datetime = EARLY
) -> Listing:
    return Listing(
        entity=EntityType.COMMUNITY,
        source_id=source,
        external_id=external_id,
        payload=payload,
        fetched_at=fetched_at,
    )


async def _source(db: Database, source_id: str, priority: int) -> None:
    spec = SourceSpec(
        id=source_id,
        name=source_id,
        family=Family.PARTNER,
        kind=PUSH,
        config={},
        priority=priority,
    )
    await add_source(db, spec)


async def _only(db: Database, collection: str = COMMUNITIES) -> dict[str, Any]:
    docs = await db[collection].find({}).to_list()
    assert len(docs) == 1
    return docs[0]


REGISTRY = _listing(
    "registry", "r-1", _community("АРИ", founded_year=2010, city="Москва", member_count=40)
)
PARTNER = _listing(
    "partner",
    "p-9",
    _community("Ассоциация развития интернета", founded_year=2011, website="https://ari.example"),
)


async def test_the_higher_priority_source_wins_whichever_writes_last(db: Database) -> None:
    await _source(db, "registry", 500)
    await _source(db, "partner", 100)
    for order in ([REGISTRY, PARTNER], [PARTNER, REGISTRY]):
        await db[COMMUNITIES].delete_many({})
        await db["listings"].delete_many({})
        for one in order:
            await ingest(db, [one])

        doc = await _only(db)
        assert doc["name"] == {"ru": "АРИ"}
        assert doc["founded_year"] == 2010
        # A field the preferred source leaves empty comes from the other.
        assert doc["website"] == "https://ari.example"
        assert doc["member_count"] == 40
        shown = {p["field"]: p["source_id"] for p in doc["provenance"]}
        assert shown["name"] == "registry"
        assert shown["founded_year"] == "registry"
        assert shown["website"] == "partner"
        alternatives = {(a["field"], a["source_id"]): a["value"] for a in doc["alternatives"]}
        assert alternatives[("name", "partner")] == {"ru": "Ассоциация развития интернета"}
        assert alternatives[("founded_year", "partner")] == 2011
        assert {c["source_id"] for c in doc["contributions"]} == {"registry", "partner"}


async def test_equal_priority_goes_to_the_fresher_listing(db: Database) -> None:
    await _source(db, "registry", 100)
    await _source(db, "partner", 100)
    fresher = _listing("partner", "p-9", PARTNER.payload, fetched_at=LATE)
    await ingest(db, [fresher])
    await ingest(db, [REGISTRY])  # written last, but fetched earlier

    doc = await _only(db)
    assert doc["founded_year"] == 2011
    assert {p["field"]: p["source_id"] for p in doc["provenance"]}["founded_year"] == "partner"
    assert ("founded_year", 2010) in [(a["field"], a["value"]) for a in doc["alternatives"]]


async def test_two_sources_in_one_batch_are_ranked_as_well(db: Database) -> None:
    await _source(db, "registry", 100)
    await _source(db, "partner", 900)
    await ingest(db, [PARTNER, REGISTRY])

    doc = await _only(db)
    assert doc["founded_year"] == 2011
    assert len(doc["sources"]) == 2


async def test_a_changed_listing_of_the_losing_source_changes_only_its_alternative(
    db: Database,
) -> None:
    await _source(db, "registry", 500)
    await ingest(db, [REGISTRY, PARTNER])
    changed = _listing("partner", "p-9", {**PARTNER.payload, "founded_year": 2012})
    await ingest(db, [changed])

    doc = await _only(db)
    assert doc["founded_year"] == 2010
    years = [a["value"] for a in doc["alternatives"] if a["field"] == "founded_year"]
    assert years == [2012]


async def test_withdrawing_the_winner_lets_the_other_value_win(db: Database) -> None:
    await _source(db, "registry", 500)
    await _source(db, "partner", 100)
    await ingest(db, [REGISTRY])
    await ingest(db, [PARTNER])

    assert await withdraw_listings(db, "registry", ["r-1"]) == {"r-1"}

    doc = await _only(db)
    assert doc["name"] == {"ru": "Ассоциация развития интернета"}
    assert doc["founded_year"] == 2011
    assert doc["member_count"] is None  # only the withdrawn listing gave it
    assert doc["city"] is None
    assert [(s["source_id"], s["external_id"]) for s in doc["sources"]] == [("partner", "p-9")]
    # One listing left: nothing to choose between, the single-listing shape again.
    assert "contributions" not in doc
    assert "provenance" not in doc
    assert "alternatives" not in doc


async def test_withdrawing_one_of_three_recomputes_among_the_rest(db: Database) -> None:
    await _source(db, "registry", 500)
    await _source(db, "partner", 300)
    await _source(db, "cluster", 100)
    third = _listing("cluster", "c-1", _community("ARI", founded_year=2009))
    await ingest(db, [REGISTRY, PARTNER, third])

    await withdraw_listings(db, "registry", ["r-1"])

    doc = await _only(db)
    assert doc["founded_year"] == 2011
    assert {c["source_id"] for c in doc["contributions"]} == {"partner", "cluster"}
    years = [
        (a["source_id"], a["value"]) for a in doc["alternatives"] if a["field"] == "founded_year"
    ]
    assert years == [("cluster", 2009)]
    assert all(p["source_id"] != "registry" for p in doc["provenance"])


async def test_a_single_source_entity_stores_no_survivorship(db: Database) -> None:
    await ingest(db, [REGISTRY])
    await ingest(db, [_listing("registry", "r-1", {**REGISTRY.payload, "member_count": 41})])

    doc = await _only(db)
    assert doc["member_count"] == 41
    assert not {"contributions", "provenance", "alternatives"} & set(doc)


async def test_an_unregistered_source_ranks_with_the_default_priority(db: Database) -> None:
    await _source(db, "registry", 50)  # below the default of 100
    await ingest(db, [REGISTRY, PARTNER])  # "partner" is not registered

    doc = await _only(db)
    assert doc["founded_year"] == 2011


def _event(source: str, starts: str, ends: str, zone: str) -> Listing:
    payload = {
        "title": {"en": f"Fintech meetup ({source})"},
        "format": "meetup",
        "starts_at": starts,
        "ends_at": ends,
        "timezone": zone,
        "attendance_mode": "online",
        "online_url": "https://meet.example/fintech",
    }
    return Listing(
        entity=EntityType.EVENT,
        source_id=source,
        external_id="e",
        payload=payload,
        fetched_at=EARLY,
        match_keys=["ics-uid:fintech-1@example"],
    )


CALENDAR = _event(
    "calendar", "2027-03-10T19:00:00+03:00", "2027-03-10T21:00:00+03:00", "Europe/Moscow"
)
PAGE = _event("page", "2027-03-10T16:30:00+00:00", "2027-03-10T19:00:00+00:00", "UTC")


async def test_an_event_start_end_and_zone_come_from_one_listing(db: Database) -> None:
    await _source(db, "calendar", 500)
    await _source(db, "page", 100)
    await ingest(db, [PAGE])
    await ingest(db, [CALENDAR])

    doc = await _only(db, EVENTS)
    assert doc["timezone"] == "Europe/Moscow"
    assert doc["starts_at"] == datetime(2027, 3, 10, 16, 0, tzinfo=UTC)
    assert doc["ends_at"] == datetime(2027, 3, 10, 18, 0, tzinfo=UTC)
    fields = {p["field"]: p["source_id"] for p in doc["provenance"]}
    assert fields["starts_at"] == fields["ends_at"] == fields["timezone"] == "calendar"


EVENT = """
query($id: ID!) {
  event(id: $id) {
    title(lang: EN) timezone
    provenance { field sourceId externalId }
    alternatives { field value sourceId }
  }
}
"""


async def test_event_provenance_and_alternatives_are_served(
    db: Database, fresh_api: GraphQLClient
) -> None:
    await _source(db, "calendar", 500)
    await ingest(db, [CALENDAR])
    await ingest(db, [PAGE])
    listed = await fresh_api.data("{ events(first: 5) { edges { node { id } } } }")
    [edge] = listed["events"]["edges"]

    data = (await fresh_api.data(EVENT, {"id": edge["node"]["id"]}))["event"]

    assert data["title"] == "Fintech meetup (calendar)"
    assert data["timezone"] == "Europe/Moscow"
    shown = {p["field"]: p["sourceId"] for p in data["provenance"]}
    assert shown["startsAt"] == shown["title"] == "calendar"
    others = {(a["field"], a["sourceId"]): a["value"] for a in data["alternatives"]}
    assert others[("timezone", "page")] == '"UTC"'
    assert others[("startsAt", "page")] == '"2027-03-10T16:30:00+00:00"'


COMMUNITY = """
query($id: ID!) {
  community(id: $id) {
    foundedYear website
    provenance { field sourceId externalId fetchedAt }
    alternatives { field value sourceId externalId }
  }
}
"""


async def test_provenance_and_alternatives_are_served(
    db: Database, fresh_api: GraphQLClient
) -> None:
    await _source(db, "registry", 500)
    await ingest(db, [REGISTRY])
    [result] = await ingest(db, [PARTNER])
    assert result.entity_id is not None
    global_id = await _global_id(fresh_api, result.entity_id)

    data = (await fresh_api.data(COMMUNITY, {"id": global_id}))["community"]

    assert data["foundedYear"] == 2010
    assert data["website"] == "https://ari.example"
    shown = {p["field"]: p for p in data["provenance"]}
    assert shown["foundedYear"]["sourceId"] == "registry"
    assert shown["foundedYear"]["externalId"] == "r-1"
    assert shown["foundedYear"]["fetchedAt"].startswith("2026-01-10T12:00:00")
    assert shown["website"]["sourceId"] == "partner"
    others = {(a["field"], a["sourceId"]): a["value"] for a in data["alternatives"]}
    assert others[("foundedYear", "partner")] == "2011"
    assert others[("name", "partner")] == '{"ru": "Ассоциация развития интернета"}'


async def test_a_single_source_entity_is_served_with_its_one_provenance(
    db: Database, fresh_api: GraphQLClient
) -> None:
    [result] = await ingest(db, [REGISTRY])
    assert result.entity_id is not None
    global_id = await _global_id(fresh_api, result.entity_id)

    data = (await fresh_api.data(COMMUNITY, {"id": global_id}))["community"]

    assert data["alternatives"] == []
    shown = {p["field"]: p["sourceId"] for p in data["provenance"]}
    assert shown["foundedYear"] == shown["name"] == "registry"
    assert "website" not in shown  # not given: no value shown, so nobody supplied it


async def _global_id(api: GraphQLClient, entity_id: str) -> str:
    data = await api.data("{ communities(first: 5) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in data["communities"]["edges"]]
    assert len(ids) == 1
    assert ObjectId(entity_id)
    return str(ids[0])


async def test_a_split_leaves_each_entity_its_own_values(db: Database) -> None:
    await _source(db, "registry", 500)
    [first] = await ingest(db, [REGISTRY])
    await ingest(db, [PARTNER])
    assert first.entity_id is not None

    new_id = await split_off(
        db, EntityType.COMMUNITY, ObjectId(first.entity_id), [("partner", "p-9")], LATE
    )

    assert new_id is not None
    stayed = await db[COMMUNITIES].find_one({"_id": ObjectId(first.entity_id)})
    moved = await db[COMMUNITIES].find_one({"_id": new_id})
    assert stayed is not None
    assert moved is not None
    assert (stayed["founded_year"], stayed["website"]) == (2010, None)
    assert (moved["founded_year"], moved["website"]) == (2011, "https://ari.example")
    for doc in (stayed, moved):
        assert not {"contributions", "provenance", "alternatives"} & set(doc)


def test_a_per_field_priority_outranks_the_source_priority() -> None:
    registry = contribution("registry", "r-1", EARLY, {"city": "Москва", "member_count": 40})
    partner = contribution("partner", "p-9", EARLY, {"city": "Moscow", "member_count": 55})
    priorities = {
        "registry": Priority(500),
        # The partner counts its members best, and only that.
        "partner": Priority(100, {"member_count": 900}),
    }

    resolved = resolve(EntityType.COMMUNITY, [registry, partner], priorities)

    assert resolved.fields["city"] == "Москва"
    assert resolved.fields["member_count"] == 55
    assert {p["field"]: p["source_id"] for p in resolved.provenance} == {
        "city": "registry",
        "member_count": "partner",
    }
    assert [(a["field"], a["value"]) for a in resolved.alternatives] == [
        ("city", "Moscow"),
        ("member_count", 40),
    ]


async def test_a_merge_puts_every_sources_values_in_play(db: Database) -> None:
    # Two entities nothing matched (different names, no shared key), merged by a
    # person: the survivor shows the preferred source's values, whichever id survives.
    await _source(db, "registry", 500)
    await _source(db, "partner", 100)
    registry = _listing("registry", "r-1", _community("Гильдия ткачей", founded_year=1990))
    partner = _listing(
        "partner",
        "p-1",
        {**_community("Weavers Union", founded_year=1995), "identifiers": []},
    )
    await ingest(db, [registry])
    await ingest(db, [partner])
    docs = {d["sources"][0]["source_id"]: d for d in await db[COMMUNITIES].find({}).to_list()}
    assert set(docs) == {"registry", "partner"}

    survivor, gone = await merge(
        db, EntityType.COMMUNITY, [docs["partner"]["_id"], docs["registry"]["_id"]], LATE
    )
    assert survivor == docs["partner"]["_id"]
    assert gone == [docs["registry"]["_id"]]
    doc = await _only(db)
    assert doc["name"] == {"ru": "Гильдия ткачей"}
    assert doc["founded_year"] == 1990
    shown = {p["field"]: p["source_id"] for p in doc["provenance"]}
    assert shown["name"] == "registry"
    alternatives = {(a["field"], a["source_id"]): a["value"] for a in doc["alternatives"]}
    assert alternatives[("founded_year", "partner")] == 1995


async def test_a_source_ranks_one_field_otherwise_than_its_priority(db: Database) -> None:
    await _source(db, "registry", 500)
    # The partner counts its members best, and only that (the API's field name).
    spec = SourceSpec(
        id="partner",
        name="partner",
        family=Family.PARTNER,
        kind=PUSH,
        config={},
        priority=100,
        field_priorities={"memberCount": 900},
    )
    await add_source(db, spec)
    counted = _listing("partner", "p-9", _community("Ассоциация", member_count=55, city="Moscow"))
    await ingest(db, [REGISTRY])
    await ingest(db, [counted])

    doc = await _only(db)
    assert doc["member_count"] == 55
    assert doc["city"] == "Москва"
    shown = {p["field"]: p["source_id"] for p in doc["provenance"]}
    assert (shown["member_count"], shown["city"]) == ("partner", "registry")


def test_a_field_priority_must_name_a_field() -> None:
    with pytest.raises(ValidationError, match="'membersCount' is not a field of a community"):
        SourceSpec(
            id="partner",
            name="partner",
            family=Family.PARTNER,
            kind=PUSH,
            config={},
            field_priorities={"membersCount": 900},
        )
