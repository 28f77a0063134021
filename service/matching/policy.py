"""The thresholds that turn a score into merge, review or apart: configuration.

Defaults live here; an operator overrides any of them in the `match_settings`
collection (document "policy"), which every instance reads at the start of each
ingestion batch, so a change applies to the next batch everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from service.storage.collections import MATCH_SETTINGS, Database

POLICY_ID = "policy"


class Outcome(StrEnum):
    MERGE = "merge"
    REVIEW = "review"
    APART = "apart"


@dataclass(frozen=True)
class MatchPolicy:
    community_merge: float = 6.0
    community_review: float = 3.0
    event_merge: float = 5.0
    event_review: float = 3.0
    # Two announcements of one event start within this much of each other (in UTC).
    event_start_tolerance_min: float = 120.0

    @property
    def event_start_tolerance(self) -> timedelta:
        return timedelta(minutes=self.event_start_tolerance_min)

    def outcome(self, score: float, *, event: bool) -> Outcome:
        merge, review = (
            (self.event_merge, self.event_review)
            if event
            else (self.community_merge, self.community_review)
        )
        if score >= merge:
            return Outcome.MERGE
        if score >= review:
            return Outcome.REVIEW
        return Outcome.APART


FIELDS = frozenset(f.name for f in fields(MatchPolicy))


def from_document(doc: dict[str, Any] | None) -> MatchPolicy:
    """The defaults with what the stored document overrides (unknown keys are ignored)."""
    if not doc:
        return MatchPolicy()
    given = {k: float(v) for k, v in doc.items() if k in FIELDS and isinstance(v, int | float)}
    return replace(MatchPolicy(), **given)


async def load_policy(db: Database) -> MatchPolicy:
    return from_document(await db[MATCH_SETTINGS].find_one({"_id": POLICY_ID}))


async def save_policy(db: Database, **values: float) -> MatchPolicy:
    unknown = set(values) - FIELDS
    if unknown:
        raise KeyError(f"unknown match settings: {', '.join(sorted(unknown))}")
    await db[MATCH_SETTINGS].update_one({"_id": POLICY_ID}, {"$set": values}, upsert=True)
    return await load_policy(db)
