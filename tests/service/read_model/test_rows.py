"""The read model derives every sort key, filter value and search term from the entity
document MongoDB stores (which carries none of them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.read_model.rows import project
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _listing(entity: EntityType, external_id: str, payload: dict[str, Any]) -> Listing:
    return Listing(entity=entity, source_id="rows", external_id=external_id, payload=payload)


def community(external_id: str, *unknown: str, **overrides: Any) -> Listing:
    payload: dict[str, Any] = {
        "name": {"ru": "Ассоциация ФинТех", "en": "Fintech Association"},
        "kind": "national",
        "form": "association",
        "industries": ["finance"],
        "city": "Москва",
        "website": f"https://{external_id}.example",
        "founded_year": 2017,
        "member_count": 50,
        "tags": ["Fintech"],
        **overrides,
    }
    for name in unknown:
        del payload[name]
    return _listing(EntityType.COMMUNITY, external_id, payload)


async def _stored(db: Database, collection: str, listings: list[Listing]) -> list[dict[str, Any]]:
    docs = []
    for result in await ingest(db, listings, now=NOW):
        assert result.entity_id is not None, result
        doc = await db[collection].find_one({"_id": ObjectId(result.entity_id)})
        assert doc is not None
        docs.append(doc)
    return docs


async def test_community_orders_filters_and_terms_come_from_the_document(db: Database) -> None:
    (doc,) = await _stored(db, COMMUNITIES, [community("a")])
    projected = project(COMMUNITIES, doc)
    entity_id = str(doc["_id"])
    assert projected.columns["name_key"] == f"ассоциация финтех\x01{entity_id}"
    assert projected.columns["members_key"] == f"{51:015d}\x01{entity_id}"
    assert projected.columns["founded_key"] == f"2017\x01{entity_id}"
    assert projected.columns["updated_key"] == f"2026-01-15T09:00:00.000000Z\x01{entity_id}"
    assert projected.columns["city_key"] == "москва"
    assert ("tags", "fintech") in projected.values
    assert {"n:finteh", "b:fintech"} <= set(projected.terms)


async def test_unknown_sizes_sort_after_known_ones(db: Database) -> None:
    unknown = community("unknown", "member_count", "founded_year", name={"en": "Unknown"})
    empty = community("empty", name={"en": "Empty"}, member_count=0, founded_year=2100)
    none, zero = [
        project(COMMUNITIES, d).columns for d in await _stored(db, COMMUNITIES, [unknown, empty])
    ]
    # Members are read descending: unknown sorts below an empty community.
    assert none["members_key"] < zero["members_key"]
    # Founding years are read ascending: unknown sorts after any real year.
    assert none["founded_key"] > zero["founded_key"]


async def test_event_month_is_in_its_local_time_zone(db: Database) -> None:
    payload = {
        "title": {"en": "Late meetup"},
        "format": "meetup",
        "starts_at": "2026-01-31T23:30:00+00:00",
        "timezone": "Europe/Moscow",
        "attendance_mode": "online",
        "online_url": "https://meet.example/late",
    }
    (doc,) = await _stored(db, EVENTS, [_listing(EntityType.EVENT, "e1", payload)])
    assert project(EVENTS, doc).columns["month"] == "2026-02"


async def test_standard_parties_and_code_key_come_from_issuer_adopters_and_code(
    db: Database,
) -> None:
    body, user = await _stored(db, COMMUNITIES, [community("body"), community("user")])
    payload = {
        "code": "ГОСТ Р 1.0-2012",
        "title": {"ru": "Стандартизация"},
        "kind": "technical",
        "issuer": "body",
        "adopters": ["body", "user"],
    }
    (doc,) = await _stored(db, STANDARDS, [_listing(EntityType.STANDARD, "s1", payload)])
    projected = project(STANDARDS, doc)
    assert projected.columns["code_key"] == "gost-r-1.0-2012"
    parties = [v for field, v in projected.values if field == "parties"]
    assert parties == [str(body["_id"]), str(user["_id"])]
