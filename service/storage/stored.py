"""Typed reads: where a document PyMongo returns becomes its `schema.documents` type.

PyMongo returns `dict[str, Any]`. Code that reads a whole document of these
collections (or one of the declared views of it) passes it through the converter
of its collection here, instead of casting where it reads. The cast is sound because:

- each collection is written in one place, which builds what it inserts as the
  declared type (mypy checks it): entities in service.ingest from the fields
  service.documents.normalize returns, listings in service.ingest, sources and runs
  in service.sync, keys in service.auth.keys;
- the `$jsonSchema` validators (service.storage.validators) make the database refuse
  an entity, listing, source or run without its required keys, whoever writes it;
- tests/schema/test_documents.py drives every writer and checks that the stored
  documents have exactly the declared keys, partial updates (`$set`) included,
  which mypy does not see.

A projection other than the declared views is not one of these types: it stays a
plain dict where it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

from schema.documents import (
    ApiKeyView,
    CommunityView,
    EventView,
    ListingDoc,
    ListingWarningView,
    RejectedListingView,
    RunDoc,
    SourceDoc,
    StandardView,
    TombstoneDoc,
)

D = TypeVar("D")


class Stored(Generic[D]):
    """The declared type of one collection's documents (or of a view of them), as read."""

    def __call__(self, doc: dict[str, Any]) -> D:
        return cast(D, doc)

    def one(self, doc: dict[str, Any] | None) -> D | None:
        return cast("D | None", doc)

    def all(self, docs: list[dict[str, Any]]) -> list[D]:
        return cast(list[D], docs)


def to_insert(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A typed document as PyMongo's `insert_one`/`insert_many` take it (the same dict:
    a `TypedDict` is one at run time; PyMongo adds the `_id` to it when it has none)."""
    return cast(dict[str, Any], doc)


# Entities: written by service.ingest (apply, memberships) from the fields
# service.documents.normalize returns; read without `match_keys` (the read model's
# copy, service.read_model.rows, and the change stream's projection in service.live).
community_view: Stored[CommunityView] = Stored()
event_view: Stored[EventView] = Stored()
standard_view: Stored[StandardView] = Stored()
# Written by service.ingest.tombstones.
tombstone: Stored[TombstoneDoc] = Stored()

# Written by service.ingest (apply, rejected, withdrawal, pipeline.mark_seen).
listing: Stored[ListingDoc] = Stored()
# Listings selected by `rejected` existing, read without `payload` (service.admin.listings).
rejected_listing_view: Stored[RejectedListingView] = Stored()
# Written by service.ingest.warnings.
listing_warning: Stored[ListingWarningView] = Stored()

# Written by service.sync.sources (the sync state by the engine, through it too).
source: Stored[SourceDoc] = Stored()
# Written by service.sync.runs.
run: Stored[RunDoc] = Stored()
# Written by service.auth.keys; read without `hash`.
api_key_view: Stored[ApiKeyView] = Stored()
