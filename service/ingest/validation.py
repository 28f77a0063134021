"""Payload validation and the content hash that tells an unchanged listing.

Validation is the payload models' (schema.models): their text types also remove
control and bidirectional formatting characters, and refuse ids and URLs holding
them, for every listing alike, partner's or connector's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import ValidationError

from schema.models import (
    ENTITY_DATA,
    Listing,
)
from service.ingest.items import EntityData, FieldError


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
