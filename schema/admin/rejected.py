"""Rejected listings (admin): what a source sent that could not be used, and reprocessing."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import orjson
import strawberry
from strawberry.scalars import JSON

from schema.admin.problems import SourceNotFound
from schema.admin.reports import ReprocessReport
from schema.admin.runs import SyncRunActive
from schema.cache_control import ADMIN_ONLY
from schema.common import wants_total
from schema.context import Info
from schema.documents import RejectedListingView
from schema.enums import EntityType
from schema.relay import Connection

# The path `service.ingest.pipeline.keep_unusable` gives a record no listing could be made of.
UNMAPPED_PATH = "record"


@strawberry.enum(description="Where a stored listing stands")
class ListingState(Enum):
    APPLIED = "applied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@strawberry.type(description="Why a record was refused: a path into it and a message")
class RejectionReason:
    path: str
    message: str


def json_value(value: Any) -> JSON:
    """Stored BSON as plain JSON (dates as ISO strings, ids as strings)."""
    return JSON(orjson.loads(orjson.dumps(value, default=str)))


@strawberry.type(description="The latest record of a listing that was refused")
class RejectedListing:
    source_id: str
    external_id: str
    entity_type: EntityType
    state: ListingState = strawberry.field(
        description="REJECTED: never applied; APPLIED: an earlier record is live; WITHDRAWN"
    )
    unmapped: bool = strawberry.field(
        description="The connector could not map it: `payload` is the raw source record"
    )
    reasons: list[RejectionReason]
    received_at: datetime
    fetched_at: datetime | None
    url: str | None
    payload: JSON = strawberry.field(description="The refused payload (or raw record) as stored")

    @classmethod
    def from_doc(cls, doc: RejectedListingView) -> RejectedListing:
        rejected = doc["rejected"]
        reasons = [
            RejectionReason(path=str(e.get("path", "")), message=str(e.get("message", "")))
            for e in rejected.get("errors") or []
        ]
        return cls(
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            entity_type=EntityType(doc["entity"]),
            state=ListingState(doc["state"]),
            unmapped=[r.path for r in reasons] == [UNMAPPED_PATH],
            reasons=reasons,
            received_at=doc["received_at"],
            fetched_at=rejected.get("fetched_at"),
            url=rejected.get("url"),
            payload=json_value(rejected.get("payload")),
        )


ReprocessResult = Annotated[
    ReprocessReport | SourceNotFound | SyncRunActive, strawberry.union("ReprocessResult")
]


@strawberry.type
class RejectedListingQuery:
    @strawberry.field(
        description="A source's refused records by external id, with reasons (admin)",
        directives=[ADMIN_ONLY],
    )
    async def rejected_listings(
        self,
        info: Info,
        source_id: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[RejectedListing]:
        page = await info.context.admin.rejected_listings(
            source_id, first, after, wants_total(info)
        )
        return Connection.from_page(page, RejectedListing.from_doc)


@strawberry.type
class RejectedListingMutation:
    @strawberry.mutation(
        description="Validate a source's stored rejected listings again, without fetching "
        "(after a mapping or validation fix): raw records a connector could not map are "
        "mapped again with the source's configuration as it is now; refused while a run "
        "is active (admin)"
    )
    async def reprocess_listings(self, info: Info, source_id: str) -> ReprocessResult:
        return await info.context.admin.reprocess_listings(source_id)
