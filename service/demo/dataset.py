"""The demo dataset: bilingual communities, standards and events shipped in the repo.

Loaded through the ingestion entry point as the built-in source `demo`. Event
dates in the files are relative to the load day ("starts_in_days" plus a local
wall-clock time in the event's zone), so the demo always has past and upcoming
events.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import IngestResult, ingest
from service.storage.collections import COMMUNITIES, Database

DEMO_SOURCE = "demo"
_FILES = (
    (EntityType.COMMUNITY, "communities.json"),
    (EntityType.STANDARD, "standards.json"),
    (EntityType.EVENT, "events.json"),
)


def _read(name: str) -> list[dict[str, Any]]:
    text = resources.files("service.demo").joinpath("data", name).read_text(encoding="utf-8")
    items: list[dict[str, Any]] = json.loads(text)
    return items


def dated_event(item: dict[str, Any], today: date) -> dict[str, Any]:
    """Replace the relative timing keys of a demo event with absolute times."""
    payload = dict(item)
    zone = ZoneInfo(payload.get("timezone", "UTC"))
    day = today + timedelta(days=payload.pop("starts_in_days"))
    start_time = payload.pop("start_time", None)
    duration_minutes = payload.pop("duration_minutes", None)
    duration_days = payload.pop("duration_days", None)
    clock = time.fromisoformat(start_time) if start_time else time(0, 0)
    starts = datetime.combine(day, clock, tzinfo=zone)
    if duration_days is not None:
        ends = starts + timedelta(days=duration_days)
    elif duration_minutes is not None:
        ends = starts + timedelta(minutes=duration_minutes)
    else:
        ends = None
    payload["starts_at"] = starts.isoformat()
    payload["ends_at"] = ends.isoformat() if ends else None
    return payload


def demo_listings(today: date | None = None) -> list[Listing]:
    today = today or datetime.now(UTC).date()
    listings: list[Listing] = []
    for entity, name in _FILES:
        for raw in _read(name):
            item = dict(raw)
            external_id = item.pop("id")
            payload = dated_event(item, today) if entity is EntityType.EVENT else item
            listings.append(
                Listing(
                    entity=entity,
                    source_id=DEMO_SOURCE,
                    external_id=external_id,
                    payload=payload,
                )
            )
    return listings


async def load_demo(db: Database, today: date | None = None) -> list[IngestResult]:
    return await ingest(db, demo_listings(today))


async def load_demo_if_empty(db: Database) -> list[IngestResult] | None:
    if await db[COMMUNITIES].find_one({}, {"_id": 1}) is not None:
        return None
    return await load_demo(db)
