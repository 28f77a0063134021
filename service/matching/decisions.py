"""Match decisions: each scored pair kept with its score, evidence and outcome.

A decision is about a new record (source, external id) and a stored entity it was
compared with (`candidate_id`); `entity_id` is the entity the record went to. Its
`status` says who decided: "merged" and "apart" by the machine, "pending" when a
person should ("review"), "same" / "different" once a person did. The id is derived
from the pair, so a batch run again after a crash writes the same decision, and an
insert never replaces what a person decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from service.matching.evidence import Score
from service.matching.policy import Outcome
from service.storage.collections import MATCH_DECISIONS, Database

STATUS_OF = {Outcome.MERGE: "merged", Outcome.REVIEW: "pending", Outcome.APART: "apart"}
PENDING = "pending"
SAME = "same"
DIFFERENT = "different"


def decision_id(entity: str, source_id: str, external_id: str, candidate: ObjectId) -> ObjectId:
    digest = hashlib.sha256(f"{entity}\x00{source_id}\x00{external_id}\x00{candidate}".encode())
    return ObjectId(digest.digest()[:12])


@dataclass(frozen=True)
class Decision:
    entity: str
    source_id: str
    external_id: str
    entity_id: ObjectId
    candidate_id: ObjectId
    outcome: Outcome
    score: Score

    def document(self, now: datetime) -> dict[str, Any]:
        return {
            "_id": decision_id(self.entity, self.source_id, self.external_id, self.candidate_id),
            "entity": self.entity,
            "source_id": self.source_id,
            "external_id": self.external_id,
            "entity_id": self.entity_id,
            "candidate_id": self.candidate_id,
            "outcome": self.outcome.value,
            "score": self.score.total,
            "evidence": [
                {"feature": e.feature, "weight": e.weight, "detail": e.detail}
                for e in self.score.evidence
            ],
            "status": STATUS_OF[self.outcome],
            "created_at": now,
        }


def worth_keeping(outcome: Outcome, score: Score) -> bool:
    """Merges and reviews always; a pair kept apart when something strong agreed (a
    shared number or site, the same name): that is what a person may ask about."""
    if outcome is not Outcome.APART:
        return True
    return any(e.weight >= 3.0 for e in score.evidence)


async def record(db: Database, decisions: Iterable[Decision], now: datetime) -> None:
    operations = [
        UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
        for doc in (d.document(now) for d in decisions)
    ]
    if operations:
        await db[MATCH_DECISIONS].bulk_write(operations, ordered=False)


async def said_different(db: Database, ids: Collection[ObjectId]) -> set[frozenset[ObjectId]]:
    """Pairs among (or touching) these entities that a person said are different."""
    if not ids:
        return set()
    wanted = sorted(ids)
    cursor = db[MATCH_DECISIONS].find(
        {
            "status": DIFFERENT,
            "$or": [{"entity_id": {"$in": wanted}}, {"candidate_id": {"$in": wanted}}],
        },
        {"entity_id": 1, "candidate_id": 1},
    )
    return {frozenset({d["entity_id"], d["candidate_id"]}) async for d in cursor}
