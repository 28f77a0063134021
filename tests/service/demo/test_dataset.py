"""The shipped demo dataset: coverage of the vocabulary, named examples, relations, reloads."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from schema.models import CommunityData, EventData, StandardData
from schema.taxonomy import (
    AttendanceMode,
    CommunityKind,
    EntityType,
    EventFormat,
    EventStatus,
    OrganizationForm,
    StandardKind,
)
from service.demo.dataset import DEMO_SOURCE, demo_listings, load_demo
from service.ingest.pipeline import Outcome
from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, STANDARDS, Database

NAMED = (
    "ari",
    "skolkovo",
    "ria-investors",
    "digital-october",
    "itmo",
    "arfr",
    "moex",
    "fin-academy",
    "fintech-association",
    "crypto-community",
    "rma",
    "med-cluster",
    "sci-med-society",
    "telemed-platform",
    "teachers-society",
    "edu-cluster",
)


def payloads(entity: EntityType) -> dict[str, dict[str, Any]]:
    return {item.external_id: item.payload for item in demo_listings() if item.entity is entity}


def communities() -> dict[str, CommunityData]:
    return {k: CommunityData.model_validate(v) for k, v in payloads(EntityType.COMMUNITY).items()}


def events() -> dict[str, EventData]:
    return {k: EventData.model_validate(v) for k, v in payloads(EntityType.EVENT).items()}


def standards() -> dict[str, StandardData]:
    return {k: StandardData.model_validate(v) for k, v in payloads(EntityType.STANDARD).items()}


def test_every_demo_listing_is_valid_and_unique() -> None:
    listings = demo_listings()
    keys = [(item.entity, item.external_id) for item in listings]
    assert len(keys) == len(set(keys))
    assert {item.source_id for item in listings} == {DEMO_SOURCE}
    # Validation raises on any invalid payload.
    assert len(communities()) + len(events()) + len(standards()) == len(listings)


def test_communities_cover_every_kind_and_form() -> None:
    found = communities()
    assert len(found) >= 60
    assert {c.kind for c in found.values()} == set(CommunityKind)
    assert {c.form for c in found.values()} == set(OrganizationForm)


def test_communities_span_industries_and_countries() -> None:
    found = communities().values()
    industries = {code for c in found for code in c.industries}
    core = {"it", "finance", "healthcare", "education"}
    assert core <= industries
    assert len(industries - core) >= 3
    countries = {code for c in found for code in c.countries}
    assert len(countries) >= 4
    assert "RU" in countries


def test_communities_are_bilingual() -> None:
    found = communities()
    bilingual = [k for k, c in found.items() if c.name.ru and c.name.en]
    assert len(bilingual) == len(found), set(found) - set(bilingual)


def test_named_examples_exist_with_websites() -> None:
    found = communities()
    missing = [name for name in NAMED if name not in found]
    assert not missing
    without_site = [name for name in NAMED if not found[name].website]
    assert not without_site


def test_every_reference_points_at_a_demo_community() -> None:
    known = set(communities())
    referenced = {r for c in communities().values() for r in (*c.member_of, *c.partners)}
    referenced |= {r for e in events().values() for r in e.organizers}
    referenced |= {
        r for s in standards().values() for r in (*([s.issuer] if s.issuer else []), *s.adopters)
    }
    assert referenced
    assert referenced <= known, referenced - known


def test_events_cover_formats_modes_and_zones() -> None:
    found = events().values()
    assert len(found) >= 40
    assert {e.format for e in found} == set(EventFormat)
    # Every way to attend; the demo's events all say where (none has its place unknown).
    assert {e.attendance_mode for e in found} == set(AttendanceMode) - {AttendanceMode.UNKNOWN}
    assert len({e.timezone for e in found}) >= 3
    statuses = Counter(e.status for e in found)
    assert statuses[EventStatus.CANCELLED] >= 1
    assert statuses[EventStatus.SCHEDULED] > len(found) // 2


def test_event_dates_are_relative_to_the_load_day() -> None:
    today = date(2030, 6, 15)
    reference = datetime(2030, 6, 15, tzinfo=UTC)
    later = {
        item.external_id: EventData.model_validate(item.payload).starts_at
        for item in demo_listings(today)
        if item.entity is EntityType.EVENT
    }
    assert any(start < reference for start in later.values())
    assert any(start > reference for start in later.values())
    shifted = {
        item.external_id: EventData.model_validate(item.payload).starts_at
        for item in demo_listings(date(2030, 6, 25))
        if item.entity is EntityType.EVENT
    }
    # Ten days later, every event moves by ten days of wall-clock time in its zone.
    for key, start in later.items():
        assert 9 * 86400 <= (shifted[key] - start).total_seconds() <= 11 * 86400


def test_standards_cover_every_kind_with_issuers() -> None:
    found = standards()
    assert len(found) >= 20
    assert {s.kind for s in found.values()} == set(StandardKind)
    assert all(s.issuer for s in found.values())


async def test_loaded_demo_has_every_listing_applied(demo_db: Database) -> None:
    listings = demo_listings()
    assert await demo_db[LISTINGS].count_documents({}) == len(listings)
    assert await demo_db[LISTINGS].count_documents({"state": {"$ne": "applied"}}) == 0
    waiting = await demo_db[LISTINGS].count_documents({"waiting_for.0": {"$exists": True}})
    assert waiting == 0


async def test_loaded_relations_resolve_to_existing_communities(demo_db: Database) -> None:
    ids = {d["_id"] async for d in demo_db[COMMUNITIES].find({}, {"_id": 1})}
    by_external = {
        d["external_id"]: d["entity_id"]
        async for d in demo_db[LISTINGS].find({"entity": "community"})
    }
    expected = communities()
    member_links = partner_links = 0
    async for doc in demo_db[COMMUNITIES].find({}):
        external = doc["sources"][0]["external_id"]
        payload = expected[external]
        assert doc["member_of"] == [by_external[e] for e in dict.fromkeys(payload.member_of)]
        assert doc["partners"] == [by_external[e] for e in dict.fromkeys(payload.partners)]
        assert set(doc["member_of"]) | set(doc["partners"]) <= ids
        member_links += len(doc["member_of"])
        partner_links += len(doc["partners"])
    assert member_links > 0
    assert partner_links > 0


async def test_loaded_events_have_resolved_organizers_past_and_upcoming(
    demo_db: Database,
) -> None:
    ids = {d["_id"] async for d in demo_db[COMMUNITIES].find({}, {"_id": 1})}
    expected = events()
    now = datetime.now(UTC)
    past = upcoming = 0
    zones: set[str] = set()
    async for doc in demo_db[EVENTS].find({}):
        payload = expected[doc["sources"][0]["external_id"]]
        assert len(doc["organizers"]) == len(set(payload.organizers))
        assert set(doc["organizers"]) <= ids
        past += doc["starts_at"] < now
        upcoming += doc["starts_at"] > now
        zones.add(doc["timezone"])
    assert past > 0
    assert upcoming > 0
    assert past + upcoming >= 40
    assert len(zones) >= 3
    assert await demo_db[EVENTS].count_documents({"status": "cancelled"}) > 0


async def test_loaded_standards_have_resolved_issuers(demo_db: Database) -> None:
    ids = {d["_id"] async for d in demo_db[COMMUNITIES].find({}, {"_id": 1})}
    count = 0
    kinds: set[str] = set()
    async for doc in demo_db[STANDARDS].find({}):
        assert doc["issuer"] in ids, doc["code"]
        assert set(doc["adopters"]) <= ids
        kinds.add(doc["kind"])
        count += 1
    assert count >= 20
    assert kinds == {k.value for k in StandardKind}


async def test_loading_twice_creates_then_changes_nothing(db: Database) -> None:
    today = date(2026, 3, 1)
    first = await load_demo(db, today)
    second = await load_demo(db, today)

    total = len(demo_listings(today))
    assert len(first) == len(second) == total
    assert Counter(r.outcome for r in first) == {Outcome.CREATED: total}
    assert Counter(r.outcome for r in second) == {Outcome.UNCHANGED: total}
    assert [r.entity_id for r in first] == [r.entity_id for r in second]
    assert await db[COMMUNITIES].count_documents({}) == len(communities())
    assert await db[EVENTS].count_documents({}) == len(events())
    assert await db[STANDARDS].count_documents({}) == len(standards())
