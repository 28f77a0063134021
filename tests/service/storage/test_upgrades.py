"""Entity documents an earlier version wrote are upgraded at start-up, once."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.storage.collections import COMMUNITIES, Database
from service.storage.setup import ensure_collections
from service.storage.upgrades import LEGACY_FIELDS

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


async def _legacy_community(db: Database) -> ObjectId:
    """A community as the previous version stored it, with its `filter_terms` index."""
    await db[COMMUNITIES].create_index([("filter_terms", 1), ("keys.name", 1)])
    entity_id = ObjectId()
    await db[COMMUNITIES].insert_one(
        {
            "_id": entity_id,
            "slug": "old-guild",
            "name": {"en": "Old Guild"},
            "kind": "professional",
            "form": "association",
            "formality": "formal",
            "status": "active",
            "industries": ["it"],
            "countries": ["RU"],
            "website": "https://old-guild.example",
            "sources": [{"source_id": "old", "external_id": "1", "url": None, "fetched_at": NOW}],
            "created_at": NOW,
            "updated_at": NOW,
            "filter_terms": ["kind=professional", "match=domain:old-guild.example", "match=inn:77"],
            "keys": {"name": "old guild\x01x", "members": "0", "founded": "9999", "updated": "x"},
            "search_terms": ["n:old"],
            "city_key": None,
            "website_domain": "old-guild.example",
            "last_event_at": NOW,
            "match_keys": ["inn:77"],
        }
    )
    return entity_id


async def test_legacy_documents_keep_their_hard_keys_and_lose_derived_fields(
    db: Database,
) -> None:
    entity_id = await _legacy_community(db)

    await ensure_collections(db)

    doc = await db[COMMUNITIES].find_one({"_id": entity_id})
    assert doc is not None
    assert sorted(doc["match_keys"]) == ["domain:old-guild.example", "inn:77"]
    assert not set(LEGACY_FIELDS) & set(doc)
    indexes = await db[COMMUNITIES].index_information()
    assert not any(f == "filter_terms" for i in indexes.values() for f, _ in i["key"])
    await ensure_collections(db)  # nothing left to upgrade
    assert await db[COMMUNITIES].find_one({"_id": entity_id}) == doc

    # Another source's listing with the same website is the same community.
    payload = {
        "name": {"en": "Old Guild"},
        "kind": "professional",
        "form": "association",
        "website": "https://www.old-guild.example/about",
    }
    listing = Listing(
        entity=EntityType.COMMUNITY, source_id="new", external_id="g", payload=payload
    )
    (result,) = await ingest(db, [listing], now=NOW)
    assert result.entity_id == str(entity_id)
