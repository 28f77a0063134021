"""A listing on its way through one ingestion batch, and the vocabulary the steps share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from schema.models import (
    CommunityData,
    EventData,
    Listing,
    StandardData,
)
from schema.taxonomy import EntityType
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS

EntityData = CommunityData | EventData | StandardData

COLLECTION: dict[EntityType, str] = {
    EntityType.COMMUNITY: COMMUNITIES,
    EntityType.EVENT: EVENTS,
    EntityType.STANDARD: STANDARDS,
}

# Communities first: events and standards of the same batch point at them.
APPLY_ORDER = {EntityType.COMMUNITY: 0, EntityType.STANDARD: 1, EntityType.EVENT: 2}


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


@dataclass
class BatchItem:
    index: int
    listing: Listing
    hash: str
    data: EntityData | None = None
    errors: list[FieldError] = field(default_factory=list)
    # The stored listing before this batch: its state, hashes, entity id, `waiting_for`
    # (read without payload and refused record by pipeline.existing_listings).
    existing: Mapping[str, Any] | None = None
    entity_id: ObjectId | None = None
    waiting_for: list[str] = field(default_factory=list)
    match_keys: list[str] = field(default_factory=list)

    @property
    def valid(self) -> EntityData:
        if self.data is None:
            raise RuntimeError("a rejected listing reached the apply step")
        return self.data

    @property
    def id(self) -> ObjectId:
        if self.entity_id is None:
            raise RuntimeError("the entity id was not reserved before use")
        return self.entity_id

    @property
    def key(self) -> tuple[str, str]:
        return (self.listing.source_id, self.listing.external_id)
