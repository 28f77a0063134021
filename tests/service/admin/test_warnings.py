"""A registry row with one bad value: kept without it and listed as a warning, or refused
with the field named; and a configuration change that takes effect at the next sync."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.storage.collections import COMMUNITIES, Database
from service.sync.engine import run_sync
from service.sync.runs import Mode, RunStatus
from service.sync.sources import SourceSpec, add_source
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.connectors.loopback import Loopback, loopback_server
from tests.service.admin.test_sources import Caller, admin_caller

HEADER = "ОГРН;Наименование;Сайт;Дата регистрации\n"
GOOD = "1027700000011;Ассоциация разработчиков;www.devs.example.org;12.05.1998\n"
BAD = "1027700000022;Союз инженеров;нет сайта;30.02.2021\n"
FIXED = "1027700000022;Союз инженеров;engineers.example.org;28.02.2021\n"

MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ОГРН",
    "fields": {
        "name.ru": "Наименование",
        "kind": {"value": "national"},
        "form": {"value": "association"},
        "website": "Сайт",
        "founded_year": {"source": "Дата регистрации", "transform": "year"},
    },
}
WARNINGS = """
query($source: String!) {
  listingWarnings(sourceId: $source) {
    totalCount
    edges { node { sourceId externalId field rawValue message recordedAt } }
  }
}
"""
REJECTED = """
query($source: String!) {
  rejectedListings(sourceId: $source) {
    edges { node { externalId unmapped reasons { path message } } }
  }
}
"""
RUN = """
query($id: ID!) { syncRun(id: $id) { mode note counts { warnings rejected unchanged } } }
"""
UPDATE = """
mutation($id: ID!, $config: JSON!) {
  updateSource(id: $id, input: {config: $config}) {
    __typename ... on InvalidAdminInput { problems { field message } }
  }
}
"""


@dataclass
class File:
    """A registry file a test rewrites; served with an ETag of its content."""

    text: str

    def handle(self, request: Request) -> Response:
        body = self.text.encode("cp1251")
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="text/csv", headers={"ETag": etag})


@pytest.fixture
async def registry() -> AsyncIterator[tuple[File, Loopback]]:
    file = File(HEADER + GOOD + BAD)
    async with loopback_server({"/reestr.csv": file.handle}) as server:
        yield file, server


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher(
        FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    ) as safe:
        yield safe


@pytest.fixture
async def admin(mongo_uri: str, db: Database) -> AsyncIterator[Caller]:
    """The admin API of a server allowed to reach loopback (the CSV's header is read when
    its source is saved)."""
    settings = settings_for(mongo_uri, db.name, fetch_allowed_networks=["127.0.0.1/32"])
    async for http in client_for(settings):
        yield await admin_caller(GraphQLClient(http), db)


async def register(db: Database, server: Loopback, mapping: dict[str, Any] = MAPPING) -> None:
    config = {"url": server.url("/reestr.csv"), "mapping": mapping}
    await add_source(
        db, SourceSpec(id="nko", name="Реестр НКО", family="association", kind="csv", config=config)
    )


async def test_bad_values_are_left_out_with_warnings_admins_list_until_fixed(
    db: Database,
    registry: tuple[File, Loopback],
    fetcher: SafeFetcher,
    admin: Caller,
) -> None:
    file, server = registry
    await register(db, server)

    run = await run_sync(db, "nko", fetcher, mode=Mode.FULL)

    assert run["status"] == RunStatus.SUCCEEDED
    assert (run["counts"]["created"], run["counts"]["warnings"]) == (2, 2)
    engineers = await db[COMMUNITIES].find_one({"name.ru": "Союз инженеров"})
    assert engineers is not None
    assert engineers.get("website") is None
    assert engineers.get("founded_year") is None  # not a year made of a day that does not exist
    devs = await db[COMMUNITIES].find_one({"name.ru": "Ассоциация разработчиков"})
    assert devs is not None
    assert (devs["website"], devs["founded_year"]) == ("https://www.devs.example.org", 1998)

    listed = (await admin.data(WARNINGS, {"source": "nko"}))["listingWarnings"]
    assert listed["totalCount"] == 2
    nodes = [edge["node"] for edge in listed["edges"]]
    assert [(n["externalId"], n["field"], n["rawValue"]) for n in nodes] == [
        ("1027700000022", "founded_year", "30.02.2021"),
        ("1027700000022", "website", "нет сайта"),
    ]
    assert "February 2021 has no day 30" in nodes[0]["message"]
    assert "is not a web address" in nodes[1]["message"]
    assert all(n["sourceId"] == "nko" and n["recordedAt"] for n in nodes)

    # Read again unchanged (a 304): the warnings stay as they are.
    again = await run_sync(db, "nko", fetcher)
    assert again["counts"]["fetched"] == 0
    assert (await admin.data(WARNINGS, {"source": "nko"}))["listingWarnings"]["totalCount"] == 2

    file.text = HEADER + GOOD + FIXED
    fixed = await run_sync(db, "nko", fetcher)
    assert (fixed["counts"]["updated"], fixed["counts"]["warnings"]) == (1, 0)
    assert (await admin.data(WARNINGS, {"source": "nko"}))["listingWarnings"]["totalCount"] == 0
    engineers = await db[COMMUNITIES].find_one({"name.ru": "Союз инженеров"})
    assert engineers is not None
    assert (engineers["website"], engineers["founded_year"]) == (
        "https://engineers.example.org",
        2021,
    )


async def test_a_source_that_refuses_bad_rows_names_the_field_and_its_change_is_a_full_pass(
    db: Database,
    registry: tuple[File, Loopback],
    fetcher: SafeFetcher,
    admin: Caller,
) -> None:
    _, server = registry
    await register(db, server)
    first = await run_sync(db, "nko", fetcher)
    assert first["counts"]["warnings"] == 2

    strict = {**MAPPING, "invalid_values": "reject_row"}
    config = {"url": server.url("/reestr.csv"), "mapping": strict}
    updated = await admin.data(UPDATE, {"id": "nko", "config": config})
    assert updated["updateSource"]["__typename"] == "Source"

    # The file did not change (a conditional GET would answer 304), but the mapping did:
    # the next run, asked to be incremental, reads everything again with it.
    run = await run_sync(db, "nko", fetcher)
    shown = (await admin.data(RUN, {"id": str(run["_id"])}))["syncRun"]
    assert shown["mode"] == "FULL"
    assert "configuration changed" in shown["note"]
    assert shown["counts"] == {"warnings": 0, "rejected": 1, "unchanged": 1}
    rejected = (await admin.data(REJECTED, {"source": "nko"}))["rejectedListings"]["edges"]
    [node] = [edge["node"] for edge in rejected]
    assert (node["externalId"], node["unmapped"]) == ("1027700000022", True)
    [reason] = node["reasons"]
    assert reason["message"].startswith("line 3: website: 'нет сайта' is not a web address")
    assert "founded_year: '30.02.2021' is not a date" in reason["message"]
    # Its last good version stays: the pass saw the row, refused as it is.
    assert await db[COMMUNITIES].count_documents({}) == 2

    nothing_new = await run_sync(db, "nko", fetcher)
    assert (nothing_new["mode"], nothing_new["counts"]["fetched"]) == ("incremental", 0)
    assert "note" not in nothing_new
