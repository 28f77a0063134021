"""Cron schedules: one run per due time, however many instances look."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from service.storage.collections import SOURCES, SYNC_RUNS, Database
from service.sync.cron import latest_due, next_due
from service.sync.runs import Mode, enqueue_run
from service.sync.schedules import enqueue_due
from service.sync.sources import SourceSpec, add_source

EVERY_MINUTE = "* * * * *"


async def _scheduled_source(db: Database, schedule: str = EVERY_MINUTE) -> None:
    spec = SourceSpec(
        id="ics-feed",
        name="Календарь",
        family="platform",
        kind="ics",
        config={"url": "https://example.org/feed.ics"},
        schedule=schedule,
    )
    await add_source(db, spec)
    # Registered a while ago, so the due times below are owed.
    await db[SOURCES].update_one(
        {"_id": "ics-feed"}, {"$set": {"created_at": datetime(2026, 1, 1, tzinfo=UTC)}}
    )


def test_due_times_follow_the_cron_expression_with_optional_seconds() -> None:
    now = datetime(2026, 11, 27, 12, 0, 7, tzinfo=UTC)
    assert latest_due("0 3 * * *", now) == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert next_due("0 3 * * *", now) == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    # A sixth field is seconds.
    assert latest_due("* * * * * */5", now) == datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)


async def test_many_instances_seeing_one_due_time_make_one_run(db: Database) -> None:
    await _scheduled_source(db)
    now = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
    created = await asyncio.gather(*(enqueue_due(db, now) for _ in range(6)))
    assert sum(len(c) for c in created) == 1
    runs = await db[SYNC_RUNS].find({}).to_list()
    assert len(runs) == 1
    assert runs[0]["scheduled_for"] == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert runs[0]["trigger"] == "schedule"
    # The same due time seen again later makes nothing new.
    assert await enqueue_due(db, now + timedelta(seconds=20)) == []


async def test_no_second_run_while_one_is_active(db: Database) -> None:
    await _scheduled_source(db)
    await enqueue_run(db, "ics-feed", Mode.FULL, "api")
    assert await enqueue_due(db, datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)) == []
    assert await db[SYNC_RUNS].count_documents({}) == 1


async def test_disabled_sources_and_due_times_before_registration_make_no_run(
    db: Database,
) -> None:
    await _scheduled_source(db, "0 3 * * *")
    assert await enqueue_due(db, datetime(2025, 12, 31, 12, 0, tzinfo=UTC)) == []
    await db[SOURCES].update_one({"_id": "ics-feed"}, {"$set": {"enabled": False}})
    assert await enqueue_due(db, datetime(2026, 11, 27, 12, 0, tzinfo=UTC)) == []
    assert await db[SYNC_RUNS].count_documents({}) == 0
