"""Each community's `last_event_at`, kept current from its live events."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import UpdateOne

from schema.models import (
    EventData,
)
from schema.taxonomy import EntityType
from service.documents import normalize
from service.documents.filter_terms import term
from service.ingest.items import BatchItem
from service.storage.bulk import bulk_write
from service.storage.collections import COMMUNITIES, EVENTS, Database


async def previous_organizers(db: Database, items: list[BatchItem]) -> set[ObjectId]:
    ids = [i.entity_id for i in items if i.listing.entity is EntityType.EVENT and i.existing]
    if not ids:
        return set()
    found: set[ObjectId] = set()
    async for doc in db[EVENTS].find({"_id": {"$in": ids}}, {"organizers": 1}):
        found.update(doc.get("organizers", []))
    return found


async def refresh_last_event(db: Database, items: list[BatchItem], previous: set[ObjectId]) -> None:
    """Keep each organizer's `last_event_at` (latest live event) for has-upcoming filters.

    One date per community turns "has upcoming events" and its negation into
    bounded ranges on an indexed field. New live events can only raise it; a
    community that had an event changed (moved, cancelled, reassigned) is
    recomputed from its events.
    """
    raised: dict[ObjectId, datetime] = {}
    for item in items:
        data = item.data
        if isinstance(data, EventData) and data.status.value in normalize.LIVE_EVENT_STATUSES:
            for organizer in item.organizers:
                raised[organizer] = max(raised.get(organizer, normalize.NO_EVENTS), data.starts_at)
    affected = previous | raised.keys()
    if not affected:
        return
    recomputed = await _latest_live_event(db, previous)
    # Writes rewrite every index entry of a community, so only changed values are written.
    current = {
        doc["_id"]: doc.get("last_event_at")
        async for doc in db[COMMUNITIES].find(
            {"_id": {"$in": list(affected)}}, {"last_event_at": 1}
        )
    }
    operations = []
    for community, now_at in current.items():
        if community in previous:
            wanted = recomputed.get(community, normalize.NO_EVENTS)
        else:
            wanted = max(now_at or normalize.NO_EVENTS, raised[community])
        if wanted != now_at:
            operations.append(UpdateOne({"_id": community}, {"$set": {"last_event_at": wanted}}))
    if operations:
        await bulk_write(db, COMMUNITIES, operations)


async def _latest_live_event(db: Database, communities: set[ObjectId]) -> dict[ObjectId, datetime]:
    if not communities:
        return {}
    latest: dict[ObjectId, datetime] = {}
    cursor = db[EVENTS].find(
        {
            # The organizer terms find the candidates through the filter_terms index.
            "filter_terms": {"$in": [term("organizers", c) for c in communities]},
            "status": {"$in": list(normalize.LIVE_EVENT_STATUSES)},
        },
        {"organizers": 1, "starts_at": 1},
    )
    async for doc in cursor:
        for organizer in doc.get("organizers", []):
            if organizer in communities:
                latest[organizer] = max(
                    latest.get(organizer, normalize.NO_EVENTS), doc["starts_at"]
                )
    return latest
