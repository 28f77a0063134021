"""What an admin mutation did, when it returns more than a document: union members
the admin port returns beside the problems of `schema.admin.problems`."""

from __future__ import annotations

import strawberry


@strawberry.type(description="What deleting a source removed")
class SourceDeleted:
    source_id: str
    withdrawn_listings: int = strawberry.field(description="Applied listings withdrawn first")
    deleted_listings: int = strawberry.field(description="Stored listings removed (any state)")
    revoked_keys: int = strawberry.field(description="Its partner keys, now revoked")


@strawberry.type(description="What reprocessing a source's stored rejected listings did")
class ReprocessReport:
    source_id: str
    reprocessed: int = strawberry.field(description="Listings validated (or re-mapped) again")
    now_applied: int
    still_rejected: int
    remapped: int = strawberry.field(
        description="Of `reprocessed`: raw records mapped again with the current mapping"
    )
    skipped: int = strawberry.field(
        description="Raw records this connector cannot map again from storage, and "
        "rejections older than the listing's withdrawal (a sync refetches them)"
    )


@strawberry.type(description="What merging entities did")
class EntitiesMerged:
    survivor_id: strawberry.ID = strawberry.field(
        description="The global id that stays (the first of `ids`)"
    )
    merged_ids: list[strawberry.ID] = strawberry.field(
        description="Global ids merged away; `node` and `_entities` resolve them to the survivor"
    )


@strawberry.type(description="What splitting an entity did")
class EntitySplit:
    entity_id: strawberry.ID = strawberry.field(description="The entity split, id unchanged")
    new_entity_id: strawberry.ID = strawberry.field(
        description="The new entity the given listings now feed"
    )
