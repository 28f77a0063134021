"""Tombstones: what a withdrawn community or event was, written before it is deleted.

A deleted document has no content to filter on, so a change-feed subscriber
(service.live) learns of a withdrawal from the tombstone's insert, which carries
the fields subscriptions filter by.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from schema.documents import NewTombstoneDoc
from schema.taxonomy import EntityType
from service.storage import stored
from service.storage.collections import COMMUNITIES, TOMBSTONES, Database

TOMBSTONE_TTL = timedelta(days=1)

# What a withdrawal can be filtered by (see record_withdrawals).
TOMBSTONE_FIELDS = {
    "sources": 1,
    "industries": 1,
    "countries": 1,
    "venue.country": 1,
    "organizers": 1,
}


async def record_withdrawals(
    db: Database, entity: EntityType, docs: Iterable[dict[str, Any]]
) -> None:
    """Write a tombstone per community or event about to be deleted (call before deleting).

    `docs` carry `_id` and `TOMBSTONE_FIELDS` (a projection, left a plain dict). An event
    is filed under its organizers' industries, read now: the organizers may be withdrawn
    in the same pass.
    """
    if entity not in (EntityType.COMMUNITY, EntityType.EVENT):
        return
    docs = list(docs)
    if not docs:
        return
    now = datetime.now(UTC)
    industries_of: dict[ObjectId, list[str]] = {}
    if entity is EntityType.EVENT:
        organizers = {o for doc in docs for o in doc.get("organizers") or []}
        if organizers:
            cursor = db[COMMUNITIES].find({"_id": {"$in": list(organizers)}}, {"industries": 1})
            industries_of = {c["_id"]: c.get("industries") or [] async for c in cursor}
    tombstones: list[NewTombstoneDoc] = []
    for doc in docs:
        if entity is EntityType.EVENT:
            country = (doc.get("venue") or {}).get("country")
            countries = [country] if country else []
            found = [i for o in doc.get("organizers") or [] for i in industries_of.get(o, [])]
            industries = list(dict.fromkeys(found))
        else:
            countries = doc.get("countries") or []
            industries = doc.get("industries") or []
        tombstones.append(
            {
                "entity": entity.value,
                "entity_id": doc["_id"],
                "source_ids": sorted({s["source_id"] for s in doc.get("sources") or []}),
                "industries": industries,
                "countries": countries,
                "withdrawn_at": now,
                "expires_at": now + TOMBSTONE_TTL,
            }
        )
    await db[TOMBSTONES].insert_many([stored.to_insert(t) for t in tombstones], ordered=False)
