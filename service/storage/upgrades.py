"""Entity documents written by earlier versions, brought to this version's shape.

Earlier versions kept on every entity what public reads used when they still ran on
MongoDB: equality-filter terms with the hard keys among them ("match=<key>" items of
`filter_terms`), sort keys, search terms and derived values, each with its index.
This version keeps the hard keys in `match_keys` and lets the read model derive the
rest (service.read_model.rows). Start-up (service.storage.setup) runs the upgrade
while the old `filter_terms` index is still there, before it drops that index, so it
runs once per database and again only if a start stopped half-way; it is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database

ENTITY_COLLECTIONS = (COMMUNITIES, EVENTS, STANDARDS)
# What earlier versions derived for reads; nothing reads them any more.
LEGACY_FIELDS = (
    "filter_terms",
    "keys",
    "search_terms",
    "city_key",
    "website_domain",
    "month",
    "last_event_at",
    "code_key",
    "parties",
)
_MATCH = "match="


def has_legacy_index(indexes: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether a collection still has an earlier version's `filter_terms` index
    (`indexes` as `index_information()` returns them)."""
    return any(field == "filter_terms" for info in indexes.values() for field, _ in info["key"])


async def upgrade_entities(db: Database, collection: str) -> int:
    """Move the hard keys out of `filter_terms` into `match_keys` and drop the derived
    fields, on every document that still has them; how many were rewritten."""
    hard_keys = {
        "$filter": {
            "input": {"$ifNull": ["$filter_terms", []]},
            "as": "t",
            "cond": {"$eq": [{"$substrCP": ["$$t", 0, len(_MATCH)]}, _MATCH]},
        }
    }
    stripped = {
        "$map": {
            "input": hard_keys,
            "as": "t",
            "in": {"$substrCP": ["$$t", len(_MATCH), {"$strLenCP": "$$t"}]},
        }
    }
    result = await db[collection].update_many(
        {"filter_terms": {"$exists": True}},
        [
            {"$set": {"match_keys": {"$setUnion": [{"$ifNull": ["$match_keys", []]}, stripped]}}},
            {"$unset": list(LEGACY_FIELDS)},
        ],
    )
    return result.modified_count
