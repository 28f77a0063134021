"""Cluster members become member-of relations when they match known communities.

A cluster registry lists member organisations (names, websites, registration
numbers) that are usually not communities themselves. Those that match a known
community by a hard key (see service.ingest.matching) get the cluster in `member_of`.
The relation is kept in `clusters` on the member, apart from what its own
listings say, so re-ingesting the member from its own source keeps it (see
service.ingest.pipeline, which writes `member_of` as own references plus `clusters`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from bson import ObjectId
from pymongo import UpdateOne

from connectors.cluster_registry import ClusterMember
from service.documents.normalize import website_domain
from service.ingest import matching
from service.storage.collections import COMMUNITIES, LISTINGS, Database


def member_keys(member: ClusterMember) -> list[str]:
    keys = [f"{i.scheme}:{i.value}" for i in member.identifiers]
    domain = website_domain(member.website)
    if domain and domain not in matching.SHARED_HOSTS:
        keys.append(f"domain:{domain}")
    return keys


async def link_members(
    db: Database, source_id: str, members: dict[str, Sequence[ClusterMember]]
) -> int:
    """Make `member_of` follow each cluster's member list (external id -> its members).

    Matched members gain the cluster; communities the cluster listed before but no
    longer does lose it (unless their own listing names it).
    """
    listings = (
        await db[LISTINGS]
        .find(
            {"source_id": source_id, "external_id": {"$in": sorted(members)}},
            {"external_id": 1, "entity_id": 1, "state": 1},
        )
        .to_list()
    )
    clusters = {d["external_id"]: d["entity_id"] for d in listings if d["state"] == "applied"}
    wanted = {k for ext in clusters for m in members[ext] for k in member_keys(m)}
    holders = await matching.find_entities(db, COMMUNITIES, sorted(wanted))
    operations = []
    for external_id, cluster_id in clusters.items():
        found: set[ObjectId] = set()
        for member in members[external_id]:
            for key in member_keys(member):
                found.update(h.entity_id for h in holders.get(key, []))
        found.discard(cluster_id)
        operations += [
            UpdateOne(
                {"_id": community},
                {"$addToSet": {"clusters": cluster_id, "member_of": cluster_id}},
            )
            for community in sorted(found)
        ]
        operations += [
            _unlink(community, cluster_id)
            async for community in _linked(db, cluster_id)
            if community not in found
        ]
    if operations:
        await db[COMMUNITIES].bulk_write(operations, ordered=False)
    return len(operations)


async def _linked(db: Database, cluster_id: ObjectId) -> AsyncIterator[ObjectId]:
    # Through the (sparse) index on `clusters`.
    async for doc in db[COMMUNITIES].find({"clusters": cluster_id}, {"_id": 1}):
        yield doc["_id"]


def _unlink(community: ObjectId, cluster_id: ObjectId) -> UpdateOne:
    """Drop a membership the cluster no longer asserts; one the community's own listing
    states stays (and so does any on a document written before own ones were kept)."""
    own = {"$ifNull": ["$own_member_of", None]}
    keep = {"$or": [{"$eq": [own, None]}, {"$in": [cluster_id, own]}]}
    return UpdateOne(
        {"_id": community, "clusters": cluster_id},
        [
            {
                "$set": {
                    "clusters": {"$setDifference": ["$clusters", [cluster_id]]},
                    "member_of": {
                        "$cond": [
                            keep,
                            "$member_of",
                            {
                                "$filter": {
                                    "input": "$member_of",
                                    "as": "m",
                                    "cond": {"$ne": ["$$m", cluster_id]},
                                }
                            },
                        ]
                    },
                }
            }
        ],
    )
