"""Admin API over HTTP: rejected listings and reprocessing them without fetching."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import model_validator

from connectors.framework.contract import Rejected
from connectors.framework.mapping import FieldMapping, to_listing
from schema.models import ENTITY_DATA, CommunityData, Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.ingest.rejected import keep_unusable
from service.storage.collections import COMMUNITIES, LISTINGS, Database
from service.sync.runs import Mode, enqueue_run
from tests.conftest import GraphQLClient
from tests.service.admin.test_sources import MAPPING, Caller, admin_caller, community, register

REJECTED = """
query($source: String!, $first: Int, $after: String) {
  rejectedListings(sourceId: $source, first: $first, after: $after) {
    edges { cursor node {
      sourceId externalId entityType state unmapped
      reasons { path message } receivedAt fetchedAt url payload
    } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""
REPROCESS = """
mutation($source: String!) {
  reprocessListings(sourceId: $source) {
    __typename
    ... on ReprocessReport { sourceId reprocessed nowApplied stillRejected remapped skipped }
    ... on SyncRunActive { message activeRun { id } }
    ... on SourceNotFound { message }
  }
}
"""
UPDATE_CONFIG = """
mutation($id: ID!, $config: JSON!) {
  updateSource(id: $id, input: {config: $config}) { __typename }
}
"""
API_URL = "https://api.example.org/nko"


@pytest.fixture
async def admin(fresh_api: GraphQLClient, db: Database) -> Caller:
    return await admin_caller(fresh_api, db)


async def json_source(db: Database, source_id: str, mapping: dict[str, Any]) -> None:
    config = {"url": API_URL, "records_path": "items", "mapping": mapping}
    await register(db, source_id, kind="json_api", config=config)


async def keep_as_the_connector_does(
    db: Database, source_id: str, mapping: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    """What a JSON API stream does with records its mapping cannot turn into listings."""
    field_mapping = FieldMapping.model_validate(mapping)
    unusable = []
    for index, record in enumerate(records):
        emitted = to_listing(field_mapping, source_id, record, read_from=API_URL, where=f"#{index}")
        assert isinstance(emitted, Rejected), emitted
        unusable.append((emitted.external_id, emitted.reason, emitted.raw))
    await keep_unusable(db, EntityType.COMMUNITY, source_id, unusable)


async def all_rejected(admin: Caller, source_id: str, size: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(50):
        variables = {"source": source_id, "first": size, "after": after}
        connection = (await admin.data(REJECTED, variables))["rejectedListings"]
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def test_rejected_listings_page_by_external_id_with_reasons_and_raw_records(
    admin: Caller, db: Database
) -> None:
    await json_source(db, "nko", MAPPING)
    await ingest(db, [community("nko", f"bad-{i}", name=None) for i in range(3)])
    await ingest(db, [community("nko", "good"), community("nko", "later-bad")])
    await ingest(db, [community("nko", "later-bad", name=None)])  # its live record stays
    raw = [{"name": "Без ОГРН", "opf": "АНО"}, {"name": "Тоже без ОГРН"}]
    await keep_as_the_connector_does(db, "nko", MAPPING, raw)
    await ingest(db, [community("other", "bad-x", name=None)])

    nodes = await all_rejected(admin, "nko", 2)
    ids = [n["externalId"] for n in nodes]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == 6
    assert "good" not in ids
    assert "bad-x" not in ids
    by_id = {n["externalId"]: n for n in nodes}

    bad = by_id["bad-0"]
    assert (bad["sourceId"], bad["entityType"], bad["state"], bad["unmapped"]) == (
        "nko",
        "COMMUNITY",
        "REJECTED",
        False,
    )
    assert [r["path"] for r in bad["reasons"]] == ["name"]
    assert bad["payload"] == {"kind": "national", "form": "association", "countries": ["RU"]}
    assert bad["receivedAt"]
    assert bad["fetchedAt"]
    assert by_id["later-bad"]["state"] == "APPLIED"

    unmapped = [n for n in nodes if n["unmapped"]]
    assert sorted(map(str, (n["payload"] for n in unmapped))) == sorted(map(str, raw))
    for node in unmapped:
        assert node["externalId"].startswith("unkeyed:")
        assert [r["path"] for r in node["reasons"]] == ["record"]
        assert "no value for the external id" in node["reasons"][0]["message"]
        assert node["url"] is None  # a connector's Rejected carries no URL

    for size in (1, 5, 6, 100):
        assert [n["externalId"] for n in await all_rejected(admin, "nko", size)] == ids
    counted = await admin.data(REJECTED, {"source": "nko", "first": 0})
    assert counted["rejectedListings"]["totalCount"] == 6
    assert counted["rejectedListings"]["edges"] == []


async def test_reprocess_after_a_mapping_fix_maps_the_stored_raw_records(
    admin: Caller, db: Database
) -> None:
    wrong = {**MAPPING, "external_id": "id"}  # the registry calls it "ogrn"
    await json_source(db, "nko", wrong)
    records = [
        {"ogrn": "1027700000001", "name": "Ассоциация один"},
        {"ogrn": "1027700000002", "name": "Ассоциация два"},
        {"name": "Без ОГРН"},
        {"ogrn": "1027700000003"},  # maps under the fix, but has no name
    ]
    await keep_as_the_connector_does(db, "nko", wrong, records)
    assert await db[COMMUNITIES].count_documents({}) == 0

    fixed = {"url": API_URL, "records_path": "items", "mapping": MAPPING}
    updated = await admin.data(UPDATE_CONFIG, {"id": "nko", "config": fixed})
    assert updated["updateSource"]["__typename"] == "Source"
    report = (await admin.data(REPROCESS, {"source": "nko"}))["reprocessListings"]
    assert report == {
        "__typename": "ReprocessReport",
        "sourceId": "nko",
        "reprocessed": 4,
        "nowApplied": 2,
        "stillRejected": 2,
        "remapped": 4,
        "skipped": 0,
    }
    names = sorted([d["name"]["ru"] async for d in db[COMMUNITIES].find({})])
    assert names == ["Ассоциация два", "Ассоциация один"]
    applied = await db[LISTINGS].find({"state": "applied"}).sort("external_id", 1).to_list()
    assert [d["external_id"] for d in applied] == ["1027700000001", "1027700000002"]

    # What still fails stays raw (so a later fix can map it again), with today's reason.
    left = {str(n["payload"]): n for n in await all_rejected(admin, "nko", 10)}
    assert left.keys() == {str({"name": "Без ОГРН"}), str({"ogrn": "1027700000003"})}
    assert all(n["unmapped"] for n in left.values())
    no_id = left[str({"name": "Без ОГРН"})]["reasons"][0]["message"]
    assert "no value for the external id (ogrn)" in no_id
    no_name = left[str({"ogrn": "1027700000003"})]["reasons"][0]["message"]
    assert no_name.startswith("mapped, but name")
    assert await db[LISTINGS].count_documents({}) == 4  # applied ones left their stand-ins

    again = (await admin.data(REPROCESS, {"source": "nko"}))["reprocessListings"]
    assert (again["reprocessed"], again["nowApplied"], again["stillRejected"]) == (2, 0, 2)
    assert await db[COMMUNITIES].count_documents({}) == 2


class _TooStrict(CommunityData):
    """A validation rule with a bug: refuses every community with a website."""

    @model_validator(mode="after")
    def _no_websites(self) -> _TooStrict:
        if self.website is not None:
            raise ValueError("website: not accepted")
        return self


async def test_reprocess_after_a_validation_fix_applies_rejected_payloads(
    admin: Caller, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(db, "nko")

    def with_site(external_id: str, name: str) -> Listing:
        plain = community("nko", external_id, name)
        payload = {**plain.payload, "website": f"https://{external_id}.example.org"}
        return plain.model_copy(update={"payload": payload})

    await ingest(db, [community("nko", "c1", "Старое имя")])
    monkeypatch.setitem(ENTITY_DATA, EntityType.COMMUNITY, _TooStrict)
    results = await ingest(db, [with_site("c1", "Новое имя"), with_site("c2", "Второе")])
    assert [r.outcome.value for r in results] == ["rejected", "rejected"]
    monkeypatch.undo()  # the fix is deployed

    report = (await admin.data(REPROCESS, {"source": "nko"}))["reprocessListings"]
    assert (report["reprocessed"], report["nowApplied"], report["stillRejected"]) == (2, 2, 0)
    assert report["remapped"] == 0
    names = sorted([d["name"]["ru"] async for d in db[COMMUNITIES].find({})])
    assert names == ["Второе", "Новое имя"]
    assert await all_rejected(admin, "nko", 10) == []
    assert await db[LISTINGS].count_documents({"state": "applied"}) == 2


async def test_reprocess_is_refused_while_a_run_is_active(admin: Caller, db: Database) -> None:
    await register(db, "nko")
    await ingest(db, [community("nko", "bad", name=None)])
    run = await enqueue_run(db, "nko", Mode.INCREMENTAL, "api")
    result = (await admin.data(REPROCESS, {"source": "nko"}))["reprocessListings"]
    assert result["__typename"] == "SyncRunActive"
    assert result["activeRun"]["id"] == str(run["_id"])
    assert len(await all_rejected(admin, "nko", 10)) == 1
    missing = (await admin.data(REPROCESS, {"source": "nope"}))["reprocessListings"]
    assert missing == {"__typename": "SourceNotFound", "message": "no source 'nope'"}


async def test_reprocess_skips_raw_records_its_connector_cannot_map_again(
    admin: Caller, db: Database
) -> None:
    ics = {"url": "https://calendar.example.org/events.ics"}
    await register(db, "calendar", family="platform", kind="ics", config=ics)
    block = "BEGIN:VEVENT\nSUMMARY:Митап\nEND:VEVENT"
    await keep_unusable(db, EntityType.EVENT, "calendar", [("uid-1", "VEVENT unreadable", block)])
    report = (await admin.data(REPROCESS, {"source": "calendar"}))["reprocessListings"]
    assert (report["reprocessed"], report["skipped"]) == (0, 1)
    [left] = await all_rejected(admin, "calendar", 10)
    assert left["payload"] == {"raw": block}
    assert left["unmapped"] is True
    assert left["entityType"] == "EVENT"
