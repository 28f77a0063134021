"""Cron expressions (UTC; a sixth field is seconds): validity and due times, in one place."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter


def is_valid(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def latest_due(schedule: str, now: datetime) -> datetime:
    """The most recent due time at or before `now`."""
    due: datetime = croniter(schedule, now).get_prev(datetime)
    return due


def next_due(schedule: str, after: datetime) -> datetime:
    """The first due time after `after`."""
    due: datetime = croniter(schedule, after).get_next(datetime)
    return due
