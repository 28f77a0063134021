"""Duplicates (admin): the review queue, with both records side by side and the
evidence, and people's decisions: resolve a pair, merge entities, split one.

A decision is remembered: later syncs and partner pushes never re-merge what a
person split nor split what a person merged. Merged-away ids keep resolving to the
survivor (`node`, `_entities`).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from schema.admin.problems import InvalidAdminInput, MatchNotFound
from schema.admin.reports import EntitiesMerged, EntitySplit
from schema.admin.reviews import (
    MatchDecision,
    MatchReviewFilter,
    MatchReviewView,
    MatchStatus,
    entity_global_id,
    listing_global_id,
)
from schema.cache_control import ADMIN_ONLY
from schema.common import Identifier, LocalizedString, wants_total
from schema.context import Info
from schema.enums import EntityType
from schema.relay import Connection


@strawberry.enum(description="What a piece of evidence did to the score")
class Agreement(Enum):
    AGREED = "agreed"
    DISAGREED = "disagreed"
    NEUTRAL = "neutral"


@strawberry.type(description="One feature compared: its weight in the score, and what was seen")
class MatchEvidence:
    feature: str
    weight: float = strawberry.field(description="Added to the score (negative: against)")
    detail: str
    agreement: Agreement


@strawberry.type(description="A listing that feeds an entity: the source's record of it")
class EntityListing:
    id: strawberry.ID = strawberry.field(description="The listing's id, as `splitEntity` takes it")
    source_id: str
    external_id: str
    url: str | None
    fetched_at: datetime | None


@strawberry.type(description="One side of a pair: the entity as stored now, its main fields")
class MatchedEntity:
    id: strawberry.ID = strawberry.field(description="The entity's global id")
    entity_type: EntityType
    present: bool = strawberry.field(
        description="False once it is gone (merged away or withdrawn): the fields are empty"
    )
    names: LocalizedString | None = strawberry.field(description="Name, or title")
    aliases: list[str]
    kind: str | None
    form: str | None
    format: str | None
    city: str | None
    countries: list[str]
    website: str | None = strawberry.field(description="Website, or the event's page")
    starts_at: datetime | None
    ends_at: datetime | None
    timezone: str | None
    venue: str | None
    identifiers: list[Identifier]
    sources: list[EntityListing]

    @classmethod
    def from_doc(cls, entity: EntityType, raw_id: Any, doc: dict[str, Any] | None) -> MatchedEntity:
        doc = doc or {}
        venue = doc.get("venue") or {}
        country = venue.get("country")
        return cls(
            id=entity_global_id(entity, raw_id),
            entity_type=entity,
            present=bool(doc),
            names=LocalizedString.from_doc(doc.get("name") or doc.get("title")),
            aliases=list(doc.get("aliases") or []),
            kind=doc.get("kind"),
            form=doc.get("form"),
            format=doc.get("format"),
            city=doc.get("city") or venue.get("city"),
            countries=list(doc.get("countries") or ([country] if country else [])),
            website=doc.get("website") or doc.get("url"),
            starts_at=doc.get("starts_at"),
            ends_at=doc.get("ends_at"),
            timezone=doc.get("timezone"),
            venue=venue.get("name"),
            identifiers=[
                Identifier(scheme=i["scheme"], value=i["value"])
                for i in doc.get("identifiers") or []
            ],
            sources=[
                EntityListing(
                    id=listing_global_id(s["source_id"], s["external_id"]),
                    source_id=s["source_id"],
                    external_id=s["external_id"],
                    url=s.get("url"),
                    fetched_at=s.get("fetched_at"),
                )
                for s in doc.get("sources") or []
            ],
        )


@strawberry.type(description="A pair the matcher compared: both records, the score and evidence")
class MatchReview:
    id: strawberry.ID = strawberry.field(
        description="The decision's id, as `resolveMatch` takes it"
    )
    entity_type: EntityType
    status: MatchStatus
    source_id: str = strawberry.field(description="The source of the record that was compared")
    external_id: str
    score: float
    record: MatchedEntity = strawberry.field(description="The entity the record went to")
    candidate: MatchedEntity = strawberry.field(description="The entity it was compared with")
    evidence: list[MatchEvidence]
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def from_doc(cls, doc: MatchReviewView) -> MatchReview:
        entity = EntityType(doc["entity"])
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            entity_type=entity,
            status=MatchStatus(doc["status"]),
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            score=float(doc["score"]),
            record=MatchedEntity.from_doc(entity, doc["entity_id"], doc["record"]),
            candidate=MatchedEntity.from_doc(entity, doc["candidate_id"], doc["candidate"]),
            evidence=[
                MatchEvidence(
                    feature=e["feature"],
                    weight=float(e["weight"]),
                    detail=e["detail"],
                    agreement=Agreement.AGREED
                    if e["weight"] > 0
                    else Agreement.DISAGREED
                    if e["weight"] < 0
                    else Agreement.NEUTRAL,
                )
                for e in doc["evidence"]
            ],
            created_at=doc["created_at"],
            decided_at=doc.get("decided_at"),
        )


ResolveMatchResult = Annotated[MatchReview | MatchNotFound, strawberry.union("ResolveMatchResult")]
MergeEntitiesResult = Annotated[
    EntitiesMerged | MatchNotFound | InvalidAdminInput, strawberry.union("MergeEntitiesResult")
]
SplitEntityResult = Annotated[
    EntitySplit | MatchNotFound | InvalidAdminInput, strawberry.union("SplitEntityResult")
]


@strawberry.type
class MatchReviewQuery:
    @strawberry.field(
        description="Pairs the matcher compared, by status (default: waiting for a person), "
        "newest first, each with both records and the evidence (admin)",
        directives=[ADMIN_ONLY],
    )
    async def match_reviews(
        self,
        info: Info,
        filter: MatchReviewFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MatchReview]:
        page = await info.context.admin.match_reviews(
            filter or MatchReviewFilter(), first, after, wants_total(info)
        )
        return Connection.from_page(page, MatchReview.from_doc)

    @strawberry.field(
        description="An entity with the ids of its listings, as `splitEntity` takes them; "
        "null when there is none (admin)",
        directives=[ADMIN_ONLY],
    )
    async def matched_entity(self, info: Info, id: strawberry.ID) -> MatchedEntity | None:
        entity, doc = await info.context.admin.matched_entity(str(id))
        return MatchedEntity.from_doc(entity, doc["_id"], doc) if doc is not None else None


@strawberry.type
class MatchReviewMutation:
    @strawberry.mutation(
        description="Settle a pair: SAME merges the record's entity into the candidate "
        "(whose id survives), DIFFERENT keeps them apart through later syncs (admin)"
    )
    async def resolve_match(
        self, info: Info, id: strawberry.ID, decision: MatchDecision
    ) -> ResolveMatchResult:
        result = await info.context.admin.resolve_match(str(id), decision)
        return result if isinstance(result, MatchNotFound) else MatchReview.from_doc(result)

    @strawberry.mutation(
        description="Merge entities of one type into the first (its id survives); the "
        "others' ids resolve to it from now on, and later syncs keep them merged (admin)"
    )
    async def merge_entities(self, info: Info, ids: list[strawberry.ID]) -> MergeEntitiesResult:
        return await info.context.admin.merge_entities([str(i) for i in ids])

    @strawberry.mutation(
        description="Move some of an entity's listings (`MatchedEntity.sources` ids) to a "
        "new entity; the entity keeps its id, and later syncs keep them apart (admin)"
    )
    async def split_entity(
        self, info: Info, id: strawberry.ID, listing_ids: list[strawberry.ID]
    ) -> SplitEntityResult:
        return await info.context.admin.split_entity(str(id), [str(i) for i in listing_ids])
