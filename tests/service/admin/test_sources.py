"""Admin API over HTTP: sources (create, update, enable, delete) and who may call it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from schema.models import Listing
from schema.principal import Role
from schema.taxonomy import EntityType
from service.auth.keys import create_key
from service.ingest.pipeline import ingest
from service.ingest.rejected import keep_unusable
from service.storage.collections import (
    API_KEYS,
    COMMUNITIES,
    LISTINGS,
    SOURCES,
    SYNC_RUNS,
    Database,
)
from service.sync.engine import run_sync
from service.sync.runs import Mode, enqueue_run
from service.sync.sources import SourceSpec, add_source
from tests.conftest import TEST_KEY_SECRET, GraphQLClient, client_for, settings_for
from tests.connectors.loopback import loopback_server, static

MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ogrn",
    "fields": {
        "name.ru": "name",
        "kind": {"value": "national"},
        "form": {"value": "association"},
        "countries": {"value": ["RU"]},
    },
}
CSV_CONFIG: dict[str, Any] = {"url": "https://registry.example.org/nko.csv", "mapping": MAPPING}
DENIED = "not allowed: this operation needs a key with the right role and scope"

SOURCE = """
id name family kind config schedule nextRunAt enabled priority createdAt updatedAt
lastRun { id status }
"""
PROBLEMS = "... on InvalidAdminInput { message problems { field message } }"
CREATE = f"""
mutation($input: SourceInput!) {{
  createSource(input: $input) {{
    __typename ... on Source {{ {SOURCE} }} {PROBLEMS}
  }}
}}
"""
UPDATE = f"""
mutation($id: ID!, $input: SourceUpdate!) {{
  updateSource(id: $id, input: $input) {{
    __typename ... on Source {{ {SOURCE} }} {PROBLEMS}
    ... on SourceNotFound {{ message sourceId }}
  }}
}}
"""
DELETE = """
mutation($id: ID!, $withdraw: Boolean!) {
  deleteSource(id: $id, withdrawListings: $withdraw) {
    __typename
    ... on SourceDeleted { sourceId withdrawnListings deletedListings revokedKeys }
    ... on SyncRunActive { message activeRun { id status } }
    ... on SourceHasListings { message appliedListings }
    ... on SourceNotFound { message }
  }
}
"""


@dataclass
class Caller:
    """The API as one key holder (or anonymous, without headers) sees it."""

    api: GraphQLClient
    headers: dict[str, str]

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api.query(query, variables, **self.headers)

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.query(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def admin_caller(api: GraphQLClient, db: Database) -> Caller:
    key = await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    return Caller(api, {"Authorization": f"Bearer {key.key}"})


async def register(db: Database, source_id: str, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "id": source_id,
        "name": f"Source {source_id}",
        "family": "association",
        "kind": "csv",
        "config": CSV_CONFIG,
    }
    await add_source(db, SourceSpec.model_validate(fields | overrides))


def community(source_id: str, external_id: str, name: str | None = "Ассоциация") -> Listing:
    payload: dict[str, Any] = {"kind": "national", "form": "association", "countries": ["RU"]}
    if name is not None:
        payload["name"] = {"ru": name}
    return Listing(
        entity=EntityType.COMMUNITY, source_id=source_id, external_id=external_id, payload=payload
    )


@pytest.fixture
async def admin(fresh_api: GraphQLClient, db: Database) -> Caller:
    return await admin_caller(fresh_api, db)


def source_input(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "nko",
        "name": "Реестр НКО",
        "family": "ASSOCIATION",
        "kind": "csv",
        "config": CSV_CONFIG,
    } | overrides


async def test_create_read_and_update_a_source(admin: Caller, db: Database) -> None:
    created = (
        await admin.data(CREATE, {"input": source_input(schedule="0 3 * * *", priority=50)})
    )["createSource"]
    assert created["__typename"] == "Source"
    assert created["config"] == CSV_CONFIG
    assert created["lastRun"] is None
    next_run = datetime.fromisoformat(created["nextRunAt"])
    assert (next_run.hour, next_run.minute, next_run.second) == (3, 0, 0)
    assert next_run > datetime.now(UTC)

    # The sync engine's state must survive an admin's edit.
    streams = {"registry": {"state": {"rows": 7}, "complete": False}}
    await db[SOURCES].update_one({"_id": "nko"}, {"$set": {"sync.streams": streams}})
    updated = (await admin.data(UPDATE, {"id": "nko", "input": {"name": "НКО", "schedule": None}}))[
        "updateSource"
    ]
    assert updated["name"] == "НКО"
    assert updated["schedule"] is None
    assert updated["nextRunAt"] is None
    assert updated["priority"] == 50
    assert updated["config"] == CSV_CONFIG
    stored = await db[SOURCES].find_one({"_id": "nko"})
    assert stored is not None
    assert stored["sync"]["streams"] == streams

    listed = await admin.data(f'{{ sources {{ {SOURCE} }} source(id: "nko") {{ id }} }}')
    assert [s["id"] for s in listed["sources"]] == ["nko"]
    assert listed["source"] == {"id": "nko"}
    assert (await admin.data('{ source(id: "nope") { id } }'))["source"] is None


async def test_config_errors_name_the_field_and_store_nothing(admin: Caller, db: Database) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (source_input(config={"mapping": MAPPING}), "config.url"),
        (source_input(config={"url": CSV_CONFIG["url"]}), "config.mapping"),
        (
            source_input(config={**CSV_CONFIG, "mapping": {**MAPPING, "fields": {"nmae": "x"}}}),
            "config.mapping.fields.nmae",
        ),
        (source_input(kind="telepathy"), "kind"),
        (source_input(schedule="every day"), "schedule"),
        (source_input(id="Not An Id"), "id"),
        (source_input(family="PARTNER", kind="push", config={}, schedule="0 3 * * *"), "schedule"),
    ]
    for given, field in cases:
        result = (await admin.data(CREATE, {"input": given}))["createSource"]
        assert result["__typename"] == "InvalidAdminInput", given
        fields = [p["field"] for p in result["problems"]]
        assert field in fields, (field, result["problems"])
        assert field in result["message"]
    assert await db[SOURCES].count_documents({}) == 0

    # The unknown mapping target is named, not just its section.
    bad = source_input(config={**CSV_CONFIG, "mapping": {**MAPPING, "fields": {"nmae": "x"}}})
    problems = (await admin.data(CREATE, {"input": bad}))["createSource"]["problems"]
    assert [p["field"] for p in problems] == ["config.mapping.fields.nmae"]
    assert problems[0]["message"].startswith("unknown field 'nmae'; known: ")

    assert (await admin.data(CREATE, {"input": source_input()}))["createSource"]["id"] == "nko"
    again = (await admin.data(CREATE, {"input": source_input(name="again")}))["createSource"]
    assert again["__typename"] == "InvalidAdminInput"
    assert [p["field"] for p in again["problems"]] == ["id"]


async def test_update_is_validated_as_a_whole(admin: Caller, db: Database) -> None:
    await register(db, "nko")
    await register(db, "partner-a", family="partner", kind="push", config={})
    before = await db[SOURCES].find({}).sort("_id", 1).to_list()

    bad_config = {"config": {"url": "ftp://nowhere", "mapping": MAPPING}}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("nko", bad_config, "config.url"),
        ("nko", {"priority": 5000}, "priority"),
        ("nko", {"name": None}, "name"),
        ("partner-a", {"schedule": "0 * * * *"}, "schedule"),
        ("partner-a", {"config": CSV_CONFIG}, "config"),
        ("partner-a", {"fieldPriorities": {"membersCount": 900}}, "field_priorities"),
    ]
    for source_id, changes, field in cases:
        result = (await admin.data(UPDATE, {"id": source_id, "input": changes}))["updateSource"]
        assert result["__typename"] == "InvalidAdminInput", (source_id, changes)
        assert field in [p["field"] for p in result["problems"]], result["problems"]

    missing = (await admin.data(UPDATE, {"id": "nope", "input": {"name": "x"}}))["updateSource"]
    assert missing == {
        "__typename": "SourceNotFound",
        "message": "no source 'nope'",
        "sourceId": "nope",
    }
    assert await db[SOURCES].find({}).sort("_id", 1).to_list() == before


async def test_enable_and_disable(admin: Caller, db: Database) -> None:
    await register(db, "nko", schedule="*/5 * * * * 30")
    query = """mutation($on: Boolean!) { setSourceEnabled(id: "nko", enabled: $on) {
        __typename ... on Source { enabled nextRunAt } } }"""
    off = (await admin.data(query, {"on": False}))["setSourceEnabled"]
    assert off == {"__typename": "Source", "enabled": False, "nextRunAt": None}
    on = (await admin.data(query, {"on": True}))["setSourceEnabled"]
    assert on["enabled"] is True
    assert datetime.fromisoformat(on["nextRunAt"]).second == 30  # 6 fields: seconds last
    stored = await db[SOURCES].find_one({"_id": "nko"})
    assert stored is not None
    assert stored["enabled"] is True


async def test_secrets_are_masked_and_a_sent_back_mask_keeps_them(
    admin: Caller, db: Database
) -> None:
    config = {
        "url": "https://platform.example.org/graphql",
        "query": "query($after: String) { groups(after: $after) { nodes { id name } } }",
        "connection_path": "groups",
        "mapping": {**MAPPING, "external_id": "id"},
        "headers": {"Authorization": "Bearer s3cret"},
    }
    given = source_input(id="meetups", family="PLATFORM", kind="graphql", config=config)
    created = (await admin.data(CREATE, {"input": given}))["createSource"]
    assert created["__typename"] == "Source", created
    assert created["config"]["headers"] == {"Authorization": "**********"}
    assert "s3cret" not in str(await admin.data(f"{{ sources {{ {SOURCE} }} }}"))

    shown = {**created["config"], "max_pages": 5}
    updated = await admin.data(UPDATE, {"id": "meetups", "input": {"config": shown}})
    assert updated["updateSource"]["config"]["max_pages"] == 5
    stored = await db[SOURCES].find_one({"_id": "meetups"})
    assert stored is not None
    assert stored["config"]["headers"] == {"Authorization": "Bearer s3cret"}
    assert stored["config"]["max_pages"] == 5


async def test_delete_is_refused_while_a_run_is_active(admin: Caller, db: Database) -> None:
    await register(db, "nko")
    run = await enqueue_run(db, "nko", Mode.FULL, "api")
    result = (await admin.data(DELETE, {"id": "nko", "withdraw": True}))["deleteSource"]
    assert result["__typename"] == "SyncRunActive"
    assert result["activeRun"] == {"id": str(run["_id"]), "status": "QUEUED"}
    assert str(run["_id"]) in result["message"]
    stored = await db[SOURCES].find_one({"_id": "nko"})
    assert stored is not None
    assert stored["enabled"] is True


async def test_delete_withdraws_listings_only_when_asked_and_revokes_partner_keys(
    admin: Caller, db: Database
) -> None:
    await register(db, "partner-a", family="partner", kind="push", config={})
    key = await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, "partner-a")
    await ingest(db, [community("partner-a", "c1"), community("partner-a", "c2", name=None)])
    await keep_unusable(db, EntityType.COMMUNITY, "partner-a", [(None, "not an object", "x")])
    await db[SYNC_RUNS].insert_one(
        {
            "source_id": "partner-a",
            "mode": "full",
            "trigger": "cli",
            "status": "succeeded",
            "created_at": datetime.now(UTC),
            "counts": {},
        }
    )
    assert await db[COMMUNITIES].count_documents({}) == 1

    refused = (await admin.data(DELETE, {"id": "partner-a", "withdraw": False}))["deleteSource"]
    assert refused["__typename"] == "SourceHasListings"
    assert refused["appliedListings"] == 1
    assert await db[SOURCES].count_documents({"_id": "partner-a"}) == 1
    assert await db[LISTINGS].count_documents({"source_id": "partner-a"}) == 3

    deleted = (await admin.data(DELETE, {"id": "partner-a", "withdraw": True}))["deleteSource"]
    assert deleted == {
        "__typename": "SourceDeleted",
        "sourceId": "partner-a",
        "withdrawnListings": 1,
        "deletedListings": 3,
        "revokedKeys": 1,
    }
    assert await db[SOURCES].count_documents({}) == 0
    assert await db[LISTINGS].count_documents({}) == 0
    assert await db[COMMUNITIES].count_documents({}) == 0  # no other source supported it
    assert await db[SYNC_RUNS].count_documents({"source_id": "partner-a"}) == 1  # history kept
    revoked = await db[API_KEYS].find_one({"_id": key.key_id})
    assert revoked is not None
    assert revoked["revoked_at"] is not None
    gone = (await admin.data(DELETE, {"id": "partner-a", "withdraw": True}))["deleteSource"]
    assert gone["__typename"] == "SourceNotFound"


async def test_delete_of_a_source_without_applied_listings_needs_no_flag(
    admin: Caller, db: Database
) -> None:
    await register(db, "nko")
    result = (await admin.data(DELETE, {"id": "nko", "withdraw": False}))["deleteSource"]
    assert result["__typename"] == "SourceDeleted"
    assert await db[SOURCES].count_documents({}) == 0


async def test_connector_kinds_describe_their_config(admin: Caller) -> None:
    kinds = (await admin.data("{ connectorKinds { kind description configSchema } }"))[
        "connectorKinds"
    ]
    by_kind = {k["kind"]: k for k in kinds}
    assert {"csv", "json_api", "ics", "graphql"} <= by_kind.keys()
    assert "url" in by_kind["csv"]["configSchema"]["properties"]


# Every admin operation, with ids of objects that exist and of ones that do not.
OPERATIONS = [
    "{ sources { id } }",
    '{ source(id: "nko") { id } }',
    '{ source(id: "nope") { id } }',
    "{ connectorKinds { kind } }",
    "{ syncRuns { edges { node { id } } } }",
    '{ syncRun(id: "$RUN") { id } }',
    '{ syncRun(id: "000000000000000000000000") { id } }',
    '{ rejectedListings(sourceId: "nko") { edges { node { externalId } } } }',
    # Arguments are checked after the role: bad ones are denied like good ones.
    '{ syncRuns(first: 1000, after: "bad") { totalCount } }',
    '{ rejectedListings(sourceId: "nko", first: -1) { totalCount } }',
    "{ apiKeys { id } }",
    "{ matchReviews { totalCount } }",
    'mutation { mergeEntities(ids: ["x", "y"]) { __typename } }',
    'mutation { createSource(input: {id: "x", name: "x", family: PARTNER, kind: "push"}) '
    "{ __typename } }",
    'mutation { updateSource(id: "nko", input: {name: "x"}) { __typename } }',
    'mutation { updateSource(id: "nope", input: {name: "x"}) { __typename } }',
    'mutation { setSourceEnabled(id: "nko", enabled: false) { __typename } }',
    'mutation { deleteSource(id: "nko", withdrawListings: true) { __typename } }',
    'mutation { deleteSource(id: "nope") { __typename } }',
    'mutation { triggerSync(sourceId: "other", mode: FULL) { __typename } }',
    'mutation { cancelSync(runId: "$RUN") { __typename } }',
    'mutation { cancelSync(runId: "not-an-id") { __typename } }',
    'mutation { reprocessListings(sourceId: "nko") { __typename } }',
    "mutation { createApiKey(role: ADMIN) { __typename } }",
    'mutation { revokeApiKey(id: "$KEY") { __typename } }',
    'mutation { revokeApiKey(id: "nope") { __typename } }',
]


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    names = [SOURCES, SYNC_RUNS, API_KEYS, LISTINGS, COMMUNITIES]
    return {name: await db[name].find({}).sort("_id", 1).to_list() for name in names}


@pytest.mark.parametrize("caller", ["anonymous", "partner"])
async def test_every_admin_operation_is_denied_to_others_and_changes_nothing(
    fresh_api: GraphQLClient, db: Database, caller: str
) -> None:
    await register(db, "nko")
    await register(db, "other")
    await register(db, "partner-a", family="partner", kind="push", config={})
    await ingest(db, [community("nko", "c1"), community("nko", "c2", name=None)])
    run = await enqueue_run(db, "nko", Mode.INCREMENTAL, "api")
    admin_key = await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    partner = await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, "partner-a")
    headers = {"Authorization": f"Bearer {partner.key}"} if caller == "partner" else {}
    who = Caller(fresh_api, headers)
    before = await snapshot(db)

    for operation in OPERATIONS:
        document = operation.replace("$RUN", str(run["_id"])).replace("$KEY", admin_key.key_id)
        body = await who.query(document)
        assert not any((body.get("data") or {}).values()), (operation, body)
        assert [e["message"] for e in body["errors"]] == [DENIED], (operation, body)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    assert await snapshot(db) == before


# --- the file's columns, checked when a CSV source is saved -------------------------------

REGISTRY_CSV = "ОГРН;Наименование\u00a0организации;ОПФ\n1027700000011;Союз;НП\n".encode("cp1251")


@pytest.fixture
async def loopback_admin(mongo_uri: str, db: Database) -> AsyncIterator[Caller]:
    """The admin API of a server allowed to reach loopback, where the test's files are."""
    settings = settings_for(mongo_uri, db.name, fetch_allowed_networks=["127.0.0.1/32"])
    async for http in client_for(settings):
        yield await admin_caller(GraphQLClient(http), db)


def csv_mapping(*columns: str) -> dict[str, Any]:
    name, opf, *rest = columns
    fields: dict[str, Any] = {
        "name.ru": name,
        "kind": {"value": "national"},
        "form": {"source": opf, "values": {"НП": "association"}},
    }
    if rest:
        fields["website"] = rest[0]
    return {**MAPPING, "external_id": "огрн", "fields": fields}


async def test_a_csv_mapping_naming_a_missing_column_is_refused_with_the_files_columns(
    loopback_admin: Caller, db: Database
) -> None:
    async with loopback_server({"/r.csv": static(REGISTRY_CSV)}) as server:
        url = server.url("/r.csv")
        # Names as people write them match: case, spaces (a non-breaking one), ё/е.
        fits = {"url": url, "mapping": csv_mapping(" наименование ОРГАНИЗАЦИИ", "опф")}
        created = await loopback_admin.data(CREATE, {"input": source_input(config=fits)})
        assert created["createSource"]["__typename"] == "Source"

        missing = {"url": url, "mapping": csv_mapping("Наименование организации", "ОПФ", "Сайт")}
        refused = (await loopback_admin.data(UPDATE, {"id": "nko", "input": {"config": missing}}))[
            "updateSource"
        ]
        other = source_input(id="nko-2", config=missing)
        also = (await loopback_admin.data(CREATE, {"input": other}))["createSource"]

    for result in (refused, also):
        assert result["__typename"] == "InvalidAdminInput"
        [problem] = result["problems"]
        assert problem["field"] == "config.mapping.fields.website"
        assert problem["message"] == (
            "the file has no column 'Сайт'; its columns are 'ОГРН', "
            "'Наименование организации', 'ОПФ'"
        )
    stored = await db[SOURCES].find_one({"_id": "nko"})
    assert stored is not None
    assert "website" not in stored["config"]["mapping"]["fields"]  # nothing was changed
    assert await db[SOURCES].count_documents({}) == 1


async def test_a_csv_source_unreachable_when_saved_is_checked_by_its_first_sync(
    loopback_admin: Caller, db: Database
) -> None:
    # Nothing listens there now; the source is saved and its first run checks the columns.
    async with loopback_server({"/r.csv": static(REGISTRY_CSV)}) as server:
        url = server.url("/r.csv")
    config = {"url": url, "mapping": csv_mapping("Наименование организации", "ОПФ", "Сайт")}
    given = {"input": source_input(config=config)}
    created = (await loopback_admin.data(CREATE, given))["createSource"]
    assert created["__typename"] == "Source"

    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with (
        loopback_server({"/r.csv": static(REGISTRY_CSV)}) as server,
        SafeFetcher(policy) as fetcher,
    ):
        await db[SOURCES].update_one({"_id": "nko"}, {"$set": {"config.url": server.url("/r.csv")}})
        run = await run_sync(db, "nko", fetcher)
    assert run["status"] == "failed"
    [error] = run["errors"]
    assert "fields.website: no column 'Сайт'" in error["message"]
    assert "the file's columns are 'ОГРН', 'Наименование организации', 'ОПФ'" in error["message"]
    assert await db[LISTINGS].count_documents({}) == 0  # not one row read without its field


async def test_a_loopback_source_the_settings_refuse_names_the_setting(
    admin: Caller,
) -> None:
    async with loopback_server({"/r.csv": static(REGISTRY_CSV)}) as server:
        config = {"url": server.url("/r.csv"), "mapping": csv_mapping("Наименование", "ОПФ")}
        result = (await admin.data(CREATE, {"input": source_input(config=config)}))["createSource"]
    assert result["__typename"] == "InvalidAdminInput"
    [problem] = result["problems"]
    assert problem["field"] == "config.url"
    assert "loopback address" in problem["message"]
    assert "GUILDGRAPH_FETCH_ALLOWED_NETWORKS" in problem["message"]


async def test_a_local_file_outside_the_roots_is_refused_when_saved_for_every_kind(
    loopback_admin: Caller, tmp_path: Path
) -> None:
    # The test server allows no file roots: every kind's local file is outside them.
    where = (tmp_path / "clusters.geojson").as_uri()
    cluster = {"url": where, "mapping": {**MAPPING, "external_id": "id"}}
    pages = {"urls": ["https://events.example.org/a", where], "language": "en"}
    capture = {"path": str(tmp_path / "capture.jsonl"), "streams": {"groups": MAPPING}}
    for kind, family, config, field in (
        ("clusters", "CLUSTER", cluster, "config.url"),
        ("jsonld", "PLATFORM", pages, "config.urls.1"),
        ("singer", "PLATFORM", capture, "config.path"),
    ):
        given = source_input(id=kind, kind=kind, family=family, config=config)
        result = (await loopback_admin.data(CREATE, {"input": given}))["createSource"]
        assert result["__typename"] == "InvalidAdminInput", kind
        [problem] = result["problems"]
        assert problem["field"] == field
        assert "local files are refused (allow_file_roots is empty)" in problem["message"]
        assert "the setting GUILDGRAPH_FETCH_FILE_ROOTS decides this" in problem["message"]


async def test_a_source_ranks_fields_of_its_own_choosing(admin: Caller, db: Database) -> None:
    await register(db, "partner-a", family="partner", kind="push", config={})
    changes = {"fieldPriorities": {"memberCount": 900, "website": 50}}
    result = (await admin.data(UPDATE, {"id": "partner-a", "input": changes}))["updateSource"]
    assert result["__typename"] == "Source", result
    stored = await db[SOURCES].find_one({"_id": "partner-a"})
    assert stored is not None
    assert stored["field_priorities"] == {"member_count": 900, "website": 50}
    shown = await admin.data('{ source(id: "partner-a") { fieldPriorities priority } }')
    assert shown["source"] == {
        "fieldPriorities": {"member_count": 900, "website": 50},
        "priority": 100,
    }
