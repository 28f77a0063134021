"""References between listings of one source (external ids) resolved to entity ids."""

from __future__ import annotations

from collections import defaultdict

from bson import ObjectId

from schema.taxonomy import EntityType
from service.documents import normalize
from service.ingest.items import BatchItem
from service.storage.collections import Database
from service.storage.lookups import source_listings


async def resolve_references(
    db: Database, items: list[BatchItem]
) -> dict[str, dict[str, ObjectId]]:
    """Per source: external id -> community entity id, for every id the batch points at."""
    known: dict[str, dict[str, ObjectId]] = defaultdict(dict)
    wanted: dict[str, set[str]] = defaultdict(set)
    for item in items:
        source = item.listing.source_id
        if item.listing.entity is EntityType.COMMUNITY and item.entity_id is not None:
            known[source][item.listing.external_id] = item.entity_id
        wanted[source].update(normalize.references(item.valid))
    for source, external_ids in wanted.items():
        missing = sorted(external_ids - known[source].keys())
        if not missing:
            continue
        projection = {"external_id": 1, "entity_id": 1, "entity": 1, "state": 1}
        for doc in await source_listings(db, source, missing, projection):
            # Only communities that exist: a rejected listing has no entity yet, so
            # a reference to it waits like one to an unknown id.
            if doc["entity"] == "community" and doc["state"] == "applied":
                known[source][doc["external_id"]] = doc["entity_id"]
    return known
