"""Fetching the stored entities that share a blocking key with new records.

One indexed `$in` over `match_keys` per piece of keys. Entities the records' own
source already feeds are filtered out by the server (a source's two records are
two entities by definition), so they cost no transfer. Before that, one small read
of `match_sources` tells whether any other source feeds this entity type at all:
the first source of a type (a registry's initial load) has nothing to match against
and pays no look-up.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pymongo import UpdateOne

from service.storage.collections import MATCH_SOURCES, Database
from service.storage.lookups import chunks


async def others_feed(db: Database, entity: str, collection: str, sources: Collection[str]) -> bool:
    """Whether a source other than each of `sources` feeds this entity type; registers
    `sources` as feeding it."""
    cursor = db[MATCH_SOURCES].find({"entity": entity}, {"source_id": 1})
    registered = {doc["source_id"] async for doc in cursor}
    known = set(registered)
    if not known:
        # First use on this database: entities written before it was kept (an upgraded
        # database) are found once, by a scan of their sources.
        # (`distinct` over an array's field finds nothing on the embedded server.)
        pipeline: list[dict[str, Any]] = [
            {"$project": {"sources.source_id": 1}},
            {"$unwind": "$sources"},
            {"$group": {"_id": "$sources.source_id"}},
        ]
        found = await (await db[collection].aggregate(pipeline)).to_list()
        known = {str(doc["_id"]) for doc in found}
    missing = sorted((known | set(sources)) - registered)
    if missing:
        await db[MATCH_SOURCES].bulk_write(
            [
                UpdateOne(
                    {"_id": f"{entity}|{s}"},
                    {"$setOnInsert": {"entity": entity, "source_id": s}},
                    upsert=True,
                )
                for s in missing
            ],
            ordered=False,
        )
    return any(known - {s} for s in sources)


async def find(
    db: Database,
    collection: str,
    keys: Collection[str],
    projection: Mapping[str, Any],
    skip_source: str | None,
) -> list[dict[str, Any]]:
    """The entities holding any of `keys` (oldest first), without those `skip_source`
    feeds."""
    found: dict[Any, dict[str, Any]] = {}
    for piece in chunks(sorted(set(keys))):
        where: dict[str, Any] = {"match_keys": {"$in": list(piece)}}
        if skip_source is not None:
            where["sources.source_id"] = {"$ne": skip_source}
        async for doc in db[collection].find(where, projection):
            found.setdefault(doc["_id"], doc)
    return [found[k] for k in sorted(found)]
