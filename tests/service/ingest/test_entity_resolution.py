"""Scored matching inside ingestion: merge, review, apart; decisions kept with evidence."""

from __future__ import annotations

from typing import Any

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.matching.policy import save_policy
from service.storage.collections import (
    COMMUNITIES,
    ENTITY_REDIRECTS,
    EVENTS,
    LISTINGS,
    MATCH_DECISIONS,
    Database,
)


def community(name: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "national", "form": "association", **extra}


def listing(source: str, external_id: str, payload: dict[str, Any], **extra: Any) -> Listing:
    entity = extra.pop("entity", EntityType.COMMUNITY)
    return Listing(
        entity=entity, source_id=source, external_id=external_id, payload=payload, **extra
    )


async def entity_of(db: Database, source: str, external_id: str) -> Any:
    doc = await db[LISTINGS].find_one({"source_id": source, "external_id": external_id})
    assert doc is not None
    return doc["entity_id"]


async def test_a_russian_and_an_english_record_of_one_association_merge(db: Database) -> None:
    site = "https://raec.example/"
    ru = community({"ru": "АНО «Ассоциация развития интернета»"}, city="Москва", website=site)
    en = community({"en": "Internet Development Association"}, city="Moscow", website=site)
    await ingest(db, [listing("registry", "r1", ru)])
    await ingest(db, [listing("partner", "p1", en)])

    assert await entity_of(db, "registry", "r1") == await entity_of(db, "partner", "p1")
    decision = await db[MATCH_DECISIONS].find_one({"source_id": "partner"})
    assert decision is not None
    assert decision["status"] == "merged"
    features = {e["feature"] for e in decision["evidence"]}
    assert {"name", "website", "city"} <= features
    assert decision["score"] >= 6


async def test_an_abbreviation_with_the_same_site_joins_the_full_name(db: Database) -> None:
    site = "https://ari.example"
    await ingest(
        db,
        [
            listing(
                "registry", "r1", community({"ru": "Ассоциация развития интернета"}, website=site)
            )
        ],
    )
    await ingest(db, [listing("cluster", "c1", community({"ru": "АРИ"}, website=site))])
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_same_name_in_different_cities_stays_apart(db: Database) -> None:
    club = {"kind": "professional", "form": "professional_group"}
    await ingest(db, [listing("a", "1", {**club, "name": {"ru": "Клуб Python"}, "city": "Казань"})])
    await ingest(db, [listing("b", "1", {**club, "name": {"en": "Python Club"}, "city": "Moscow"})])
    assert await db[COMMUNITIES].count_documents({}) == 2


async def test_a_chapter_on_its_parents_domain_path_stays_apart(db: Database) -> None:
    parent = community({"ru": "Ассоциация развития интернета"}, website="https://ari.example")
    chapter = community(
        {"en": "Internet Development Association, St. Petersburg Chapter"},
        website="https://ari.example/spb",
    )
    await ingest(db, [listing("registry", "r1", parent)])
    await ingest(db, [listing("partner", "p1", chapter)])
    assert await db[COMMUNITIES].count_documents({}) == 2


async def test_a_club_under_its_universitys_number_stays_apart(db: Database) -> None:
    inn = [{"scheme": "inn", "value": "7701234567"}]
    university = {
        "name": {"ru": "Технический университет"},
        "kind": "specialized",
        "form": "educational_community",
        "identifiers": inn,
    }
    club = {
        "name": {"en": "Robotics Student Club"},
        "kind": "professional",
        "form": "professional_group",
        "identifiers": inn,
    }
    await ingest(db, [listing("registry", "u", university)])
    await ingest(db, [listing("partner", "c", club)])
    assert await db[COMMUNITIES].count_documents({}) == 2
    decision = await db[MATCH_DECISIONS].find_one({"source_id": "partner"})
    assert decision is not None  # a shared number is worth showing, even kept apart
    assert decision["status"] == "apart"


async def test_an_unsure_pair_goes_to_review_and_keeps_its_own_entity(db: Database) -> None:
    # The same name with a typo and nothing else to go on: a person decides.
    await ingest(db, [listing("a", "1", community({"en": "Robotics Investors Union"}))])
    await ingest(db, [listing("b", "1", community({"en": "Robtoics Investors Union"}))])
    assert await db[COMMUNITIES].count_documents({}) == 2
    decision = await db[MATCH_DECISIONS].find_one({"status": "pending"})
    assert decision is not None
    assert decision["entity_id"] == await entity_of(db, "b", "1")
    assert decision["candidate_id"] == await entity_of(db, "a", "1")


async def test_thresholds_are_configuration(db: Database) -> None:
    await save_policy(db, community_merge=4.0)
    await ingest(db, [listing("a", "1", community({"en": "Robotics Investors Union"}))])
    await ingest(db, [listing("b", "1", community({"en": "Robtoics Investors Union"}))])
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_a_record_matching_two_entities_merges_them(db: Database) -> None:
    inn = [{"scheme": "inn", "value": "7700000031"}]
    site = "https://informat.example"
    await ingest(
        db, [listing("registry", "r", community({"ru": "Союз аналитиков данных"}, identifiers=inn))]
    )
    await ingest(db, [listing("partner", "p", community({"en": "Data Analyts"}, website=site))])
    assert await db[COMMUNITIES].count_documents({}) == 2
    gone = await entity_of(db, "partner", "p")
    both = community({"ru": "Аналитиков данных"}, identifiers=inn, website=site)
    await ingest(db, [listing("cluster", "c", both)])

    assert await db[COMMUNITIES].count_documents({}) == 1
    survivor = await entity_of(db, "registry", "r")
    assert await entity_of(db, "partner", "p") == survivor
    assert await entity_of(db, "cluster", "c") == survivor
    redirect = await db[ENTITY_REDIRECTS].find_one({"_id": gone})
    assert redirect is not None
    assert redirect["to"] == survivor


def event(title: dict[str, str], starts: str, tz: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "format": "meetup",
        "starts_at": starts,
        "timezone": tz,
        "attendance_mode": "offline",
        "venue": {"name": "Технопарк", "city": extra.pop("city", "Москва")},
        **extra,
    }


async def test_one_event_in_two_languages_and_time_zones_merges(db: Database) -> None:
    ru = event({"ru": "Митап разработчиков игр"}, "2026-09-10T16:00:00Z")
    en = event({"en": "Game Developers Meetup"}, "2026-09-10T19:00:00", "Europe/Moscow")
    en["venue"]["city"] = "Moscow"
    await ingest(db, [listing("calendar", "e1", ru, entity=EntityType.EVENT)])
    await ingest(db, [listing("page", "e1", en, entity=EntityType.EVENT)])
    assert await db[EVENTS].count_documents({}) == 1


async def test_a_weekly_meetups_occurrences_stay_apart(db: Database) -> None:
    weeks = ["2026-09-03T16:00:00Z", "2026-09-10T16:00:00Z"]
    title = {"en": "Weekly Python Meetup"}
    await ingest(
        db,
        [
            listing("a", f"w{n}", event(title, s), entity=EntityType.EVENT)
            for n, s in enumerate(weeks)
        ],
    )
    await ingest(
        db,
        [
            listing("b", f"w{n}", event(title, s), entity=EntityType.EVENT)
            for n, s in enumerate(weeks)
        ],
    )
    assert await db[EVENTS].count_documents({}) == 2
    assert await entity_of(db, "a", "w0") == await entity_of(db, "b", "w0")
    assert await entity_of(db, "a", "w1") == await entity_of(db, "b", "w1")


async def test_one_title_in_two_cities_on_one_day_stays_apart(db: Database) -> None:
    title = {"en": "Game Developers Meetup"}
    starts = "2026-09-10T16:00:00Z"
    await ingest(
        db, [listing("a", "1", event(title, starts, city="Москва"), entity=EntityType.EVENT)]
    )
    await ingest(
        db, [listing("b", "1", event(title, starts, city="Kazan"), entity=EntityType.EVENT)]
    )
    assert await db[EVENTS].count_documents({}) == 2


async def test_two_numbered_events_of_one_series_at_one_time_and_place_stay_apart(
    db: Database,
) -> None:
    # Two tracks of a series announced for the same evening and venue by two sources:
    # only the number tells them apart, and it does.
    starts = "2026-09-10T16:00:00Z"
    twelve = event({"en": "Python Meetup #12"}, starts)
    thirteen = event({"en": "Python Meetup #13"}, starts)
    await ingest(db, [listing("a", "12", twelve, entity=EntityType.EVENT)])
    await ingest(db, [listing("b", "13", thirteen, entity=EntityType.EVENT)])
    assert await db[EVENTS].count_documents({}) == 2
    # The same number from the other source is the same event.
    await ingest(db, [listing("b", "12", dict(twelve), entity=EntityType.EVENT)])
    assert await entity_of(db, "a", "12") == await entity_of(db, "b", "12")
