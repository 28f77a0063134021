"""Field-level provenance: which listing supplied each value an entity shows, and the
values other listings give (chosen by service.ingest.survivorship)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from bson import ObjectId
from strawberry.utils.str_converters import to_camel_case

from schema.documents import FieldAlternativeDoc, FieldProvenanceDoc
from schema.relay import to_global_id


@strawberry.type(description="Which listing supplied the value shown for one field")
class FieldProvenance:
    field: str = strawberry.field(description="The field's name in this API: `foundedYear`")
    source_id: str
    external_id: str
    fetched_at: datetime

    @classmethod
    def from_doc(cls, doc: FieldProvenanceDoc) -> FieldProvenance:
        return cls(
            field=to_camel_case(doc["field"]),
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            fetched_at=doc["fetched_at"],
        )


@strawberry.type(description="A value another listing gives for a field, not the one shown")
class FieldAlternative:
    field: str = strawberry.field(description="The field's name in this API: `foundedYear`")
    value: str = strawberry.field(
        description="The value as JSON, as stored (references as global ids, times in ISO 8601)"
    )
    source_id: str
    external_id: str
    fetched_at: datetime

    @classmethod
    def from_doc(cls, doc: FieldAlternativeDoc) -> FieldAlternative:
        return cls(
            field=to_camel_case(doc["field"]),
            value=json.dumps(doc["value"], default=_plain, ensure_ascii=False, sort_keys=True),
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            fetched_at=doc["fetched_at"],
        )


def _plain(value: object) -> str:
    # Entities point only at communities (members, partners, organizers, issuers).
    if isinstance(value, ObjectId):
        return to_global_id("Community", str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not stored in an entity's fields")


def provenance(doc: Mapping[str, Any], fields: tuple[str, ...]) -> list[FieldProvenance]:
    """Per field shown: the listing that supplied it. An entity one listing feeds stores
    none: that listing supplied every field it shows."""
    stored: list[FieldProvenanceDoc] | None = doc.get("provenance")
    if stored is None:
        sources = doc.get("sources") or []
        if not sources:
            return []
        # Written before values were chosen per field: the freshest listing's.
        latest = max(sources, key=lambda s: s["fetched_at"])
        stored = [
            {
                "field": name,
                "source_id": latest["source_id"],
                "external_id": latest["external_id"],
                "fetched_at": latest["fetched_at"],
            }
            for name in fields
            if doc.get(name) not in (None, [], {}, "")
        ]
    return [FieldProvenance.from_doc(p) for p in stored]


def alternatives(doc: Mapping[str, Any]) -> list[FieldAlternative]:
    return [FieldAlternative.from_doc(a) for a in doc.get("alternatives") or []]
