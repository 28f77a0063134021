"""People's match decisions hold across re-syncs; merged-away ids redirect: in the
service, and through the admin API (matchReviews, resolveMatch, mergeEntities,
splitEntity) with `node` and `_entities` following merged-away ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schema.admin.reviews import MatchReviewFilter, MatchReviewView
from schema.models import Listing
from schema.relay import PageRequest, to_global_id
from schema.taxonomy import EntityType
from service.admin import matches
from service.api.metrics import Metrics
from service.ingest.pipeline import ingest
from service.matching import redirects
from service.settings import ReadConsistency
from service.storage.collections import COMMUNITIES, LISTINGS, MATCH_DECISIONS, Database
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.service.admin.test_sources import DENIED, Caller, admin_caller

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def record(source: str, name: str, version: int = 0, **extra: Any) -> Listing:
    payload = {
        "name": {"en": name},
        "kind": "national",
        "form": "association",
        "description": {"en": f"version {version}"},
        **extra,
    }
    return Listing(entity=EntityType.COMMUNITY, source_id=source, external_id="1", payload=payload)


async def entity_of(db: Database, source: str) -> Any:
    doc = await db[LISTINGS].find_one({"source_id": source, "external_id": "1"})
    assert doc is not None
    return doc["entity_id"]


async def resync(db: Database, *records: tuple[str, str], version: int) -> None:
    """Each source sends its record again, changed, so that it is written again."""
    for source, name in records:
        await ingest(db, [record(source, name, version)])


async def review_pair(db: Database) -> dict[str, Any]:
    await ingest(db, [record("a", "Robotics Investors Union")])
    await ingest(db, [record("b", "Robtoics Investors Union")])
    [review] = await pending(db)
    assert review["record"] is not None
    assert review["candidate"] is not None
    assert review["record"]["name"] == {"en": "Robtoics Investors Union"}
    assert review["candidate"]["name"] == {"en": "Robotics Investors Union"}
    assert review["evidence"]
    return dict(review)


async def pending(db: Database) -> list[MatchReviewView]:
    selection = MatchReviewFilter(entity_type=EntityType.COMMUNITY)
    return (await matches.review_page(db, selection, PageRequest.build(), False)).docs


PAIR = (("a", "Robotics Investors Union"), ("b", "Robtoics Investors Union"))


async def test_same_merges_and_a_resync_keeps_them_merged(db: Database) -> None:
    decision = await review_pair(db)
    gone = decision["entity_id"]

    await matches.resolve(db, decision["_id"], same=True, now=NOW)
    await resync(db, *PAIR, version=1)

    assert await db[COMMUNITIES].count_documents({}) == 1
    assert await entity_of(db, "a") == await entity_of(db, "b") == decision["candidate_id"]
    assert await redirects.resolve(db, [gone]) == {gone: decision["candidate_id"]}
    assert await pending(db) == []


async def test_different_stays_apart_through_resyncs_and_new_records(db: Database) -> None:
    decision = await review_pair(db)

    await matches.resolve(db, decision["_id"], same=False, now=NOW)
    await resync(db, *PAIR, version=1)
    # A third source's record that matches both cannot bridge what a person kept apart.
    await ingest(db, [record("c", "Robotics Investors Union")])
    await ingest(db, [record("c", "Robotics Investors Union", 2)])

    assert await entity_of(db, "a") != await entity_of(db, "b")
    stored = await db[MATCH_DECISIONS].find_one({"_id": decision["_id"]})
    assert stored is not None
    assert stored["status"] == "different"


async def test_merged_entities_stay_merged_after_a_resync(db: Database) -> None:
    await ingest(db, [record("a", "Alpha Guild", city="Kazan")])
    await ingest(db, [record("b", "Alpha Guild", city="Moscow")])
    a, b = await entity_of(db, "a"), await entity_of(db, "b")
    assert a != b

    survivor, gone = await matches.merge(db, EntityType.COMMUNITY, [a, b], NOW)
    await resync(db, ("a", "Alpha Guild"), ("b", "Alpha Guild"), version=1)

    assert (survivor, gone) == (a, [b])
    assert await entity_of(db, "b") == a
    assert await db[COMMUNITIES].count_documents({}) == 1
    doc = await db[COMMUNITIES].find_one({"_id": a})
    assert doc is not None
    assert {s["source_id"] for s in doc["sources"]} == {"a", "b"}


async def test_a_split_entity_stays_split_after_a_resync(db: Database) -> None:
    site = "https://guild.example"
    await ingest(db, [record("a", "Beta Guild", website=site)])
    await ingest(db, [record("b", "Beta Guild", website=site)])
    merged = await entity_of(db, "a")
    assert await entity_of(db, "b") == merged

    new_id = await matches.split_entity(db, EntityType.COMMUNITY, merged, [("b", "1")], NOW)
    await resync(db, ("a", "Beta Guild"), ("b", "Beta Guild"), version=1)

    assert await entity_of(db, "a") == merged  # the original keeps its id
    assert await entity_of(db, "b") == new_id
    kept = await db[COMMUNITIES].find_one({"_id": merged})
    assert kept is not None
    assert [s["source_id"] for s in kept["sources"]] == ["a"]
    assert await db[COMMUNITIES].count_documents({}) == 2


# Through the admin API.

SIDE = """id entityType present names { en } kind form city countries website
    sources { id sourceId externalId }"""
REVIEWS = f"""
query($filter: MatchReviewFilter, $first: Int, $after: String) {{
  matchReviews(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{
      id entityType status sourceId externalId score createdAt decidedAt
      record {{ {SIDE} }} candidate {{ {SIDE} }}
      evidence {{ feature weight detail agreement }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}
"""
RESOLVE = """
mutation($id: ID!, $decision: MatchDecision!) {
  resolveMatch(id: $id, decision: $decision) {
    __typename
    ... on MatchReview { id status decidedAt record { id present } candidate { id } }
    ... on MatchNotFound { message missingId }
  }
}
"""
MERGE = """
mutation($ids: [ID!]!) {
  mergeEntities(ids: $ids) {
    __typename
    ... on EntitiesMerged { survivorId mergedIds }
    ... on MatchNotFound { message missingId }
    ... on InvalidAdminInput { problems { field message } }
  }
}
"""
SPLIT = """
mutation($id: ID!, $listings: [ID!]!) {
  splitEntity(id: $id, listingIds: $listings) {
    __typename
    ... on EntitySplit { entityId newEntityId }
    ... on MatchNotFound { message missingId }
    ... on InvalidAdminInput { problems { field message } }
  }
}
"""
ENTITY = f"query($id: ID!) {{ matchedEntity(id: $id) {{ {SIDE} }} }}"
NODE = """
query($id: ID!, $r: [_Any!]!) {
  node(id: $id) { id ... on Community { name } }
  _entities(representations: $r) { ... on Community { id name } }
}
"""


def community_id(raw: Any) -> str:
    return to_global_id("Community", str(raw))


@pytest.fixture
async def admin(fresh_api: GraphQLClient, db: Database) -> Caller:
    return await admin_caller(fresh_api, db)


async def test_the_review_queue_shows_both_records_the_evidence_and_pages(
    admin: Caller, db: Database
) -> None:
    decision = await review_pair(db)
    await ingest(db, [record("c", "Quantum Sensing Society")])
    await ingest(db, [record("d", "Quantum Sensnig Society")])

    first = (await admin.data(REVIEWS, {"first": 1}))["matchReviews"]
    assert first["totalCount"] == 2
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    second = (await admin.data(REVIEWS, {"first": 1, "after": after}))["matchReviews"]
    assert second["pageInfo"]["hasNextPage"] is False
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert len({n["id"] for n in nodes}) == 2

    [review] = [n for n in nodes if n["id"] == str(decision["_id"])]
    assert review["entityType"] == "COMMUNITY"
    assert review["status"] == "PENDING"
    assert (review["sourceId"], review["externalId"]) == ("b", "1")
    assert review["record"]["id"] == community_id(decision["entity_id"])
    assert review["record"]["names"] == {"en": "Robtoics Investors Union"}
    assert review["candidate"]["names"] == {"en": "Robotics Investors Union"}
    assert [(s["sourceId"], s["externalId"]) for s in review["record"]["sources"]] == [("b", "1")]
    assert review["candidate"]["kind"] == "national"
    agreements = {e["feature"]: e["agreement"] for e in review["evidence"]}
    assert "AGREED" in agreements.values()
    assert review["score"] == decision["score"]

    only_d = {"filter": {"sourceId": "d", "entityType": "COMMUNITY"}}
    listed = (await admin.data(REVIEWS, only_d))["matchReviews"]["edges"]
    assert [e["node"]["sourceId"] for e in listed] == ["d"]
    assert (await admin.data(REVIEWS, {"filter": {"status": "SAME"}}))["matchReviews"][
        "edges"
    ] == []


async def test_resolve_same_merges_and_the_old_id_resolves_to_the_survivor(
    admin: Caller, db: Database
) -> None:
    decision = await review_pair(db)
    old = community_id(decision["entity_id"])
    survivor = community_id(decision["candidate_id"])

    resolved = (await admin.data(RESOLVE, {"id": str(decision["_id"]), "decision": "SAME"}))[
        "resolveMatch"
    ]
    assert resolved["status"] == "SAME"
    assert resolved["decidedAt"] is not None
    assert resolved["record"] == {"id": old, "present": False}

    shown = await admin.data(NODE, {"id": old, "r": [{"__typename": "Community", "id": old}]})
    assert shown["node"]["id"] == survivor
    assert [e["id"] for e in shown["_entities"]] == [survivor]
    await resync(db, *PAIR, version=1)
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_resolve_different_keeps_them_apart_through_a_resync(
    admin: Caller, db: Database
) -> None:
    decision = await review_pair(db)
    resolved = (await admin.data(RESOLVE, {"id": str(decision["_id"]), "decision": "DIFFERENT"}))[
        "resolveMatch"
    ]
    assert resolved["status"] == "DIFFERENT"

    await resync(db, *PAIR, version=1)
    assert await entity_of(db, "a") != await entity_of(db, "b")
    settled = await admin.data(REVIEWS, {"filter": {"status": "DIFFERENT"}})
    assert [e["node"]["id"] for e in settled["matchReviews"]["edges"]] == [str(decision["_id"])]


async def test_merge_entities_then_node_and_entities_give_the_survivor(
    admin: Caller, db: Database
) -> None:
    await ingest(db, [record("a", "Alpha Guild", city="Kazan")])
    await ingest(db, [record("b", "Alpha Guild", city="Moscow")])
    a, b = community_id(await entity_of(db, "a")), community_id(await entity_of(db, "b"))
    assert a != b

    merged = (await admin.data(MERGE, {"ids": [a, b]}))["mergeEntities"]
    assert merged == {"__typename": "EntitiesMerged", "survivorId": a, "mergedIds": [b]}

    representations = [{"__typename": "Community", "id": i} for i in (b, a)]
    shown = await admin.data(NODE, {"id": b, "r": representations})
    assert shown["node"] == {"id": a, "name": "Alpha Guild"}
    assert [e["id"] for e in shown["_entities"]] == [a, a]
    # Anonymous readers follow it too: the public read path, from the read model.
    public = await admin.api.data(NODE, {"id": b, "r": representations})
    assert public == shown

    await resync(db, ("a", "Alpha Guild"), ("b", "Alpha Guild"), version=1)
    entity = (await admin.data(ENTITY, {"id": a}))["matchedEntity"]
    assert {s["sourceId"] for s in entity["sources"]} == {"a", "b"}
    assert (await admin.data(ENTITY, {"id": b}))["matchedEntity"] is None
    # The person's decision is listed like the machine's.
    same = await admin.data(REVIEWS, {"filter": {"status": "SAME"}})
    [node] = [e["node"] for e in same["matchReviews"]["edges"]]
    assert (node["candidate"]["id"], node["record"]["id"]) == (a, b)


async def test_merging_an_already_merged_id_again_reaches_the_survivor(
    admin: Caller, db: Database
) -> None:
    for source in ("a", "b", "c"):
        await ingest(db, [record(source, "Gamma Guild", city=f"City {source}")])
    a, b, c = [community_id(await entity_of(db, s)) for s in ("a", "b", "c")]
    await admin.data(MERGE, {"ids": [b, a]})

    merged = (await admin.data(MERGE, {"ids": [c, a]}))["mergeEntities"]
    assert merged == {"__typename": "EntitiesMerged", "survivorId": c, "mergedIds": [b]}
    shown = await admin.data(NODE, {"id": a, "r": [{"__typename": "Community", "id": b}]})
    assert shown["node"]["id"] == c
    assert [e["id"] for e in shown["_entities"]] == [c]


async def test_merge_and_split_refusals_are_typed_and_change_nothing(
    admin: Caller, db: Database
) -> None:
    await ingest(db, [record("a", "Delta Guild")])
    a = community_id(await entity_of(db, "a"))
    ghost = community_id("5f0000000000000000000000")
    event = to_global_id("Event", "5f0000000000000000000001")

    alone = (await admin.data(MERGE, {"ids": [a, a]}))["mergeEntities"]
    assert alone["problems"][0]["field"] == "ids"
    mixed = (await admin.data(MERGE, {"ids": [a, event]}))["mergeEntities"]
    assert mixed["__typename"] == "InvalidAdminInput"
    missing = (await admin.data(MERGE, {"ids": [ghost, a]}))["mergeEntities"]
    assert missing["__typename"] == "MatchNotFound"

    own = to_global_id("Listing", "a/1")
    whole = (await admin.data(SPLIT, {"id": a, "listings": [own]}))["splitEntity"]
    assert whole["problems"] == [
        {"field": "listingIds", "message": "name some, not all, of the entity's listings"}
    ]
    gone = (await admin.data(SPLIT, {"id": ghost, "listings": [own]}))["splitEntity"]
    assert gone["__typename"] == "MatchNotFound"
    unknown = await admin.data(RESOLVE, {"id": "5f0000000000000000000002", "decision": "SAME"})
    assert unknown["resolveMatch"]["__typename"] == "MatchNotFound"

    bad = await admin.query(SPLIT, {"id": a, "listings": [a]})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_split_entity_then_a_resync_keeps_them_apart(admin: Caller, db: Database) -> None:
    site = "https://guild.example"
    await ingest(db, [record("a", "Beta Guild", website=site)])
    await ingest(db, [record("b", "Beta Guild", website=site)])
    merged = community_id(await entity_of(db, "a"))
    entity = (await admin.data(ENTITY, {"id": merged}))["matchedEntity"]
    by_source = {s["sourceId"]: s["id"] for s in entity["sources"]}
    assert set(by_source) == {"a", "b"}

    split = (await admin.data(SPLIT, {"id": merged, "listings": [by_source["b"]]}))["splitEntity"]
    assert split["__typename"] == "EntitySplit"
    assert split["entityId"] == merged
    new_id = split["newEntityId"]
    await resync(db, ("a", "Beta Guild"), ("b", "Beta Guild"), version=1)

    kept = (await admin.data(ENTITY, {"id": merged}))["matchedEntity"]
    moved = (await admin.data(ENTITY, {"id": new_id}))["matchedEntity"]
    assert [s["sourceId"] for s in kept["sources"]] == ["a"]
    assert [s["sourceId"] for s in moved["sources"]] == ["b"]
    shown = await admin.data(NODE, {"id": new_id, "r": [{"__typename": "Community", "id": merged}]})
    assert shown["node"]["id"] == new_id
    assert [e["id"] for e in shown["_entities"]] == [merged]


async def test_merged_away_ids_are_read_from_the_read_model_without_round_trips(
    mongo_uri: str, db: Database
) -> None:
    """Merged before the API starts: its read model is built with the redirects, and
    public look-ups follow them without a database command."""
    await ingest(db, [record("a", "Epsilon Guild", city="Kazan")])
    await ingest(db, [record("b", "Epsilon Guild", city="Moscow")])
    a, b = await entity_of(db, "a"), await entity_of(db, "b")
    await matches.merge(db, EntityType.COMMUNITY, [a, b], NOW)

    metrics = Metrics()
    settings = settings_for(mongo_uri, db.name, read_consistency=ReadConsistency.SESSION)
    async for http in client_for(settings, metrics):
        api = GraphQLClient(http)
        old, survivor = community_id(b), community_id(a)
        before = sum(metrics.request_db_commands.values())
        shown = await api.data(NODE, {"id": old, "r": [{"__typename": "Community", "id": old}]})
        assert sum(metrics.request_db_commands.values()) == before
        assert shown["node"]["id"] == survivor
        assert [e["id"] for e in shown["_entities"]] == [survivor]


@pytest.mark.parametrize(
    "document",
    [
        "{ matchReviews { totalCount } }",
        '{ matchedEntity(id: "Q29tbXVuaXR5OjVmMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA") { id } }',
        'mutation { resolveMatch(id: "5f0000000000000000000002", decision: SAME) { __typename } }',
        'mutation { mergeEntities(ids: ["x", "y"]) { __typename } }',
        'mutation { splitEntity(id: "x", listingIds: ["y"]) { __typename } }',
    ],
)
async def test_the_match_operations_are_denied_to_anonymous_callers(
    fresh_api: GraphQLClient, document: str
) -> None:
    body = await fresh_api.query(document)
    assert [e["message"] for e in body["errors"]] == [DENIED], body
