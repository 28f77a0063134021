"""Matching across sources by hard keys: one entity, one provenance entry per source."""

from __future__ import annotations

from typing import Any

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import Outcome, ingest
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database


def _community(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": {"ru": name}, "kind": "national", "form": "association", **extra}


def _listing(source: str, external_id: str, payload: dict[str, Any], **extra: Any) -> Listing:
    entity = extra.pop("entity", EntityType.COMMUNITY)
    return Listing(
        entity=entity, source_id=source, external_id=external_id, payload=payload, **extra
    )


async def test_the_same_registration_number_makes_one_community(db: Database) -> None:
    inn = {"scheme": "inn", "value": "7704123456"}
    await ingest(db, [_listing("registry-a", "a-1", _community("АРИ", identifiers=[inn]))])
    [result] = await ingest(
        db,
        [
            _listing(
                "registry-b", "b-77", _community("Ассоциация развития интернета", identifiers=[inn])
            )
        ],
    )

    assert result.outcome is Outcome.CREATED  # new for this source, merged into the entity
    docs = await db[COMMUNITIES].find({}).to_list()
    assert len(docs) == 1
    assert {(s["source_id"], s["external_id"]) for s in docs[0]["sources"]} == {
        ("registry-a", "a-1"),
        ("registry-b", "b-77"),
    }


async def test_the_website_domain_matches_but_a_shared_platform_host_does_not(
    db: Database,
) -> None:
    await ingest(
        db,
        [
            _listing("a", "1", _community("Сколково", website="https://www.sk.ru/")),
            _listing("a", "2", _community("Клуб 1", website="https://vk.com/club1")),
        ],
    )
    await ingest(
        db,
        [
            _listing("b", "x", _community("Skolkovo", website="https://sk.ru/en")),
            _listing("b", "y", _community("Клуб 2", website="https://vk.com/club2")),
        ],
    )
    assert await db[COMMUNITIES].count_documents({}) == 3


async def test_standard_codes_match_across_scripts(db: Database) -> None:
    def standard(code: str) -> dict[str, Any]:
        return {"code": code, "title": {"ru": "Стандартизация в РФ"}, "kind": "technical"}

    await ingest(
        db, [_listing("rst", "1", standard("ГОСТ Р 1.0-2012"), entity=EntityType.STANDARD)]
    )
    await ingest(
        db, [_listing("iso", "z", standard("GOST R 1.0-2012"), entity=EntityType.STANDARD)]
    )
    docs = await db[STANDARDS].find({}).to_list()
    assert len(docs) == 1
    assert len(docs[0]["sources"]) == 2


async def test_listing_match_keys_join_events_of_two_feeds(db: Database) -> None:
    event = {
        "title": {"en": "PyData meetup"},
        "format": "meetup",
        "starts_at": "2026-12-01T18:00:00+01:00",
        "attendance_mode": "online",
        "online_url": "https://meet.example/pydata",
    }
    uid = ["ics-uid:123@meetup.com"]
    await ingest(db, [_listing("feed-a", "e1", event, entity=EntityType.EVENT, match_keys=uid)])
    await ingest(db, [_listing("feed-b", "e9", event, entity=EntityType.EVENT, match_keys=uid)])
    assert await db[EVENTS].count_documents({}) == 1


async def test_keys_of_another_source_stay_findable(db: Database) -> None:
    inn = {"scheme": "inn", "value": "7704000001"}
    site = "https://union.example.ru"
    await ingest(db, [_listing("a", "1", _community("Союз", identifiers=[inn], website=site))])
    await ingest(db, [_listing("b", "1", _community("Союз", website=site))])
    await ingest(db, [_listing("c", "1", _community("Союз", identifiers=[inn]))])
    docs = await db[COMMUNITIES].find({}).to_list()
    assert len(docs) == 1
    assert len(docs[0]["sources"]) == 3


async def test_two_new_listings_with_one_key_in_a_batch_make_one_entity(db: Database) -> None:
    inn = {"scheme": "inn", "value": "7704000002"}
    await ingest(
        db,
        [
            _listing("a", "1", _community("Союз", identifiers=[inn])),
            _listing("b", "1", _community("Союз", identifiers=[inn])),
        ],
    )
    assert await db[COMMUNITIES].count_documents({}) == 1
