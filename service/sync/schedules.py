"""Cron schedules: each due time of a source's schedule becomes exactly one run.

Every instance's worker looks for due sources on each tick. The run document of a
due time is keyed by (source, due time) with a unique index, so however many
instances see the same due time, one insert wins and the others get a duplicate
key; and the one-active-run index means a source whose previous run is still
going gets no second one (its due time is retried on later ticks and runs once
the source is free).
"""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from schema.documents import RunDoc
from service.storage.collections import SOURCES, Database
from service.sync.cron import latest_due
from service.sync.runs import Mode, RunActive, enqueue_run
from service.sync.sources import SourceError


async def enqueue_due(db: Database, now: datetime) -> list[RunDoc]:
    """Queue the latest due run of every enabled scheduled source that lacks it."""
    queued: list[RunDoc] = []
    sources = db[SOURCES].find(
        {"enabled": True, "schedule": {"$type": "string"}},
        {"schedule": 1, "created_at": 1, "schedule_since": 1},
    )
    async for source in sources:
        due = latest_due(source["schedule"], now)
        # Due times before the schedule was set are not owed.
        if due < (source.get("schedule_since") or source["created_at"]):
            continue
        try:
            queued.append(
                await enqueue_run(
                    db, source["_id"], Mode.INCREMENTAL, "schedule", scheduled_for=due
                )
            )
        except (DuplicateKeyError, RunActive):
            continue  # another instance queued it, or the source is busy
        except SourceError:
            continue  # disabled or deleted since the listing
    return queued
