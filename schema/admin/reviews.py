"""The duplicate review queue as the admin port takes and returns it: the stored
match decision, the queue's filter and the two decisions a person can take.

Like `schema.admin.runs` for runs, this module has no `Info`: the port
(`schema.ports.admin`) and the service import it; `schema.admin.matches` shows it.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, NotRequired, TypedDict

import strawberry
from bson import ObjectId

from schema.enums import EntityType
from schema.errors import UserInputError
from schema.relay import from_global_id, to_global_id

# The GraphQL type each entity type's global ids name.
TYPE_NAMES = {
    EntityType.COMMUNITY: "Community",
    EntityType.EVENT: "Event",
    EntityType.STANDARD: "Standard",
}
ENTITY_TYPES = {name: entity for entity, name in TYPE_NAMES.items()}
# A listing's global id: "Listing:<source id>/<external id>" (a source id has no "/").
LISTING = "Listing"


def entity_global_id(entity: EntityType, raw_id: object) -> strawberry.ID:
    return strawberry.ID(to_global_id(TYPE_NAMES[entity], str(raw_id)))


def decode_entity_id(global_id: str, argument: str) -> tuple[EntityType, str]:
    type_name, raw_id = from_global_id(global_id, argument=argument)
    entity = ENTITY_TYPES.get(type_name)
    if entity is None:
        raise UserInputError(f"'{argument}' is not the id of an entity", argument=argument)
    return entity, raw_id


def listing_global_id(source_id: str, external_id: str) -> strawberry.ID:
    return strawberry.ID(to_global_id(LISTING, f"{source_id}/{external_id}"))


def decode_listing_id(global_id: str, argument: str) -> tuple[str, str]:
    type_name, raw_id = from_global_id(global_id, argument=argument)
    source_id, _, external_id = raw_id.partition("/")
    if type_name != LISTING or not source_id or not external_id:
        raise UserInputError(f"'{argument}' is not the id of a listing", argument=argument)
    return source_id, external_id


class EvidenceDoc(TypedDict):
    """One piece of evidence of a pair's score (service.matching.evidence.Evidence)."""

    feature: str
    weight: float
    detail: str


class MatchDecisionDoc(TypedDict):
    """A `match_decisions` document, as service.matching.decisions writes it."""

    _id: ObjectId
    entity: str
    # The record (source, external id) that was compared; "admin" for a person's merge
    # or split.
    source_id: str
    external_id: str
    # The entity the record went to, and the stored entity it was compared with.
    entity_id: ObjectId
    candidate_id: ObjectId
    outcome: str
    score: float
    evidence: list[EvidenceDoc]
    status: str
    created_at: datetime
    decided_at: NotRequired[datetime]


class MatchReviewView(MatchDecisionDoc):
    """A decision with both entities as they are stored now (None once gone: merged
    away or withdrawn), without their match keys."""

    record: dict[str, Any] | None
    candidate: dict[str, Any] | None


@strawberry.enum(description="Where a match decision stands, and who took it")
class MatchStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for a person")
    SAME = strawberry.enum_value("same", description="A person merged them")
    DIFFERENT = strawberry.enum_value("different", description="A person kept them apart")
    MERGED = strawberry.enum_value("merged", description="The machine merged them")
    APART = strawberry.enum_value("apart", description="The machine kept them apart")


@strawberry.enum(description="A person's decision about a pair")
class MatchDecision(Enum):
    SAME = "same"
    DIFFERENT = "different"


@strawberry.input(description="Which match decisions to list")
class MatchReviewFilter:
    status: MatchStatus = MatchStatus.PENDING
    entity_type: EntityType | None = None
    source_id: str | None = strawberry.field(
        default=None, description="The source of the record that was compared"
    )
