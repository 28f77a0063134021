"""Payload validation and the content hash that tells an unchanged listing.

Validation is the payload models' (schema.models): their text types also remove
control and bidirectional formatting characters, and refuse ids and URLs holding
them, for every listing alike, partner's or connector's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

import orjson
from pydantic import ValidationError

from schema.documents import ListingDoc
from schema.models import (
    ENTITY_DATA,
    Listing,
)
from schema.taxonomy import EntityType
from service.ingest.items import BatchItem, EntityData, FieldError


def content_hash(payload: dict[str, Any]) -> str:
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


def validation_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(path=".".join(str(p) for p in e["loc"]) or "payload", message=e["msg"])
        for e in error.errors(include_url=False)
    ]


def validate(listing: Listing) -> tuple[EntityData | None, list[FieldError]]:
    try:
        return ENTITY_DATA[listing.entity].model_validate(listing.payload), []
    except ValidationError as error:
        return None, validation_errors(error)


def stored_item(doc: ListingDoc, index: int) -> BatchItem | None:
    """A stored raw listing validated again, as an item of a batch to apply (when a
    reference it waited for arrives, or an entity is split); None if it is not valid."""
    listing = Listing(
        entity=EntityType(doc["entity"]),
        source_id=doc["source_id"],
        external_id=doc["external_id"],
        payload=doc["payload"],
        url=doc.get("url"),
        fetched_at=doc["fetched_at"].replace(tzinfo=UTC),
    )
    data, errors = validate(listing)
    if data is None or errors:
        return None
    return BatchItem(index, listing, doc["hash"], data=data, existing=doc)
