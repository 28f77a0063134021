"""The bundled demo sources: one per family, through the real connectors, matched by keys."""

from __future__ import annotations

from service.demo.dataset import load_demo
from service.demo.sources import demo_specs, sync_demo_sources
from service.ingest.memberships import link_members
from service.storage.collections import COMMUNITIES, EVENTS, Database


def test_there_is_one_demo_source_per_connector_family() -> None:
    assert {spec.family.value for spec in demo_specs()} == {"association", "cluster", "platform"}
    assert all(spec.config["url"].startswith("file://") for spec in demo_specs())


async def test_demo_sources_sync_and_merge_with_the_demo_dataset(db: Database) -> None:
    await load_demo(db)

    runs = await sync_demo_sources(db)

    assert [run["status"] for run in runs] == ["succeeded"] * 3
    assert all(run["counts"]["fetched"] > 0 for run in runs)
    ari = await db[COMMUNITIES].find_one({"name.ru": "Ассоциация развития интернета"})
    assert ari is not None
    assert {s["source_id"] for s in ari["sources"]} == {"demo", "demo-nko-registry"}
    cluster = await db[COMMUNITIES].find_one({"match_keys": "domain:medcluster-nsk.ru"})
    assert cluster is not None
    assert {s["source_id"] for s in cluster["sources"]} == {"demo", "demo-cluster-registry"}
    assert await db[EVENTS].count_documents({"sources.source_id": "demo-ekb-meetups"}) > 5

    again = await sync_demo_sources(db)
    assert [run["counts"]["fetched"] for run in again] == [0, 0, 0]  # unchanged files: 304


async def test_cluster_members_that_match_communities_become_members(db: Database) -> None:
    await load_demo(db)
    await sync_demo_sources(db)
    society = await db[COMMUNITIES].find_one({"match_keys": "domain:rnmot.ru"})
    cluster = await db[COMMUNITIES].find_one({"match_keys": "domain:medcluster-nsk.ru"})
    assert society is not None
    assert cluster is not None
    assert cluster["_id"] in society["member_of"]
    assert society["member_of"][0] != cluster["_id"]  # its own parent stays first
    assert cluster["_id"] in society["clusters"]

    # Re-ingesting the member from its own source keeps the cluster membership.
    await db["listings"].update_many({"source_id": "demo"}, {"$set": {"applied_hash": "x"}})
    await load_demo(db)
    society = await db[COMMUNITIES].find_one({"_id": society["_id"]})
    assert society is not None
    assert cluster["_id"] in society["member_of"]
    assert cluster["_id"] in society["clusters"]


async def test_a_member_the_cluster_no_longer_lists_loses_only_that_membership(
    db: Database,
) -> None:
    await load_demo(db)
    await sync_demo_sources(db)
    society = await db[COMMUNITIES].find_one({"match_keys": "domain:rnmot.ru"})
    cluster = await db[COMMUNITIES].find_one({"match_keys": "domain:medcluster-nsk.ru"})
    assert society is not None
    assert cluster is not None
    own_parents = [m for m in society["member_of"] if m != cluster["_id"]]
    assert own_parents  # its own listing names a parent too
    registry = "demo-cluster-registry"
    cluster_listing = await db["listings"].find_one(
        {"entity_id": cluster["_id"], "source_id": registry}
    )
    assert cluster_listing is not None

    # The registry now lists no members for this cluster.
    await link_members(db, registry, {cluster_listing["external_id"]: []})

    society = await db[COMMUNITIES].find_one({"_id": society["_id"]})
    assert society is not None
    assert society["member_of"] == own_parents
    assert cluster["_id"] not in society.get("clusters", [])
