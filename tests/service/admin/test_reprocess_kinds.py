"""`reprocessListings` maps stored raw records again for every connector kind that can.

Each kind reads a real input (a local file, or a GraphQL endpoint on loopback) with a
configuration that refuses its one record; the configuration is fixed through the
admin API, and reprocessing (no fetch) maps the record kept raw with the fixed one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.framework.contract import Rejected
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from connectors.web.config import JsonLdPagesConfig
from connectors.web.jsonld_pages import JsonLdPagesConnector
from schema.taxonomy import EntityType
from service.ingest.rejected import keep_unusable
from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, Database
from service.sync.engine import run_sync
from service.sync.runs import Mode
from service.sync.sources import SourceSpec, add_source
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.connectors.loopback import loopback_server
from tests.service.admin.test_listings import REPROCESS
from tests.service.admin.test_sources import Caller, admin_caller

UPDATE = """
mutation($id: ID!, $config: JSON!) {
  updateSource(id: $id, input: {config: $config}) {
    __typename ... on InvalidAdminInput { problems { field message } }
  }
}
"""


def community_mapping(*, fixed: bool, **paths: str) -> dict[str, Any]:
    """A founding date read as yyyy-mm-dd only (refusing the record's 12.05.1998), or
    in every registry form once fixed."""
    founded: dict[str, Any] = {"source": paths.get("founded", "founded"), "transform": "year"}
    if not fixed:
        founded |= {"formats": ["yyyy-mm-dd"], "invalid": "reject_row"}
    return {
        "entity": "community",
        "external_id": paths.get("id", "id"),
        "fields": {
            "name.ru": paths.get("name", "name"),
            "kind": {"value": "professional"},
            "form": {"value": "association"},
            "founded_year": founded,
        },
    }


RECORD = {"id": "c-1", "name": "Союз инженеров", "founded": "12.05.1998"}
FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>PyNSK</title><link>https://pynsk.example.ru/</link>
<item><title>Митап PyNSK</title><link>https://pynsk.example.ru/events/42</link>
<guid>https://pynsk.example.ru/events/42</guid>
<description>Встречаемся 2026.12.05, приходите!</description></item>
</channel></rss>
"""


@dataclass(frozen=True)
class Case:
    kind: str
    family: str
    files: dict[str, str]
    config: Callable[[str, bool], dict[str, Any]]  # (directory URL, fixed) -> config
    entity: str = COMMUNITIES


CASES = [
    Case(
        "csv",
        "association",
        {"reestr.csv": "id;name;founded\nc-1;Союз инженеров;12.05.1998\n"},
        lambda d, fixed: {"url": f"{d}/reestr.csv", "mapping": community_mapping(fixed=fixed)},
    ),
    Case(
        "json_api",
        "association",
        {"api.json": json.dumps({"items": [RECORD]})},
        lambda d, fixed: {
            "url": f"{d}/api.json",
            "records_path": "items",
            "mapping": community_mapping(fixed=fixed),
        },
    ),
    Case(
        "clusters",
        "cluster",
        {
            "clusters.geojson": json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [37.6, 55.7]},
                            "properties": RECORD,
                        }
                    ],
                }
            )
        },
        lambda d, fixed: {
            "url": f"{d}/clusters.geojson",
            "mapping": community_mapping(fixed=fixed),
        },
    ),
    Case(
        "singer",
        "platform",
        {
            "capture.jsonl": "\n".join(
                json.dumps(message)
                for message in (
                    {"type": "SCHEMA", "stream": "groups", "schema": {}, "key_properties": ["id"]},
                    {"type": "RECORD", "stream": "groups", "record": RECORD},
                    {"type": "STATE", "value": {"position": 1}},
                )
            )
        },
        lambda d, fixed: {
            "path": f"{d}/capture.jsonl",
            "streams": {"groups": community_mapping(fixed=fixed)},
        },
    ),
    Case(
        "rss",
        "platform",
        {"feed.xml": FEED},
        lambda d, fixed: {
            "url": f"{d}/feed.xml",
            "language": "ru",
            "default_venue": {"name": "Точка кипения", "city": "Новосибирск", "country": "RU"},
            **(
                {"date_pattern": r"(?P<year>\d{4})\.(?P<month>\d{2})\.(?P<day>\d{2})"}
                if fixed
                else {}
            ),
        },
        entity=EVENTS,
    ),
]


@pytest.fixture
async def admin(mongo_uri: str, db: Database, tmp_path: Path) -> AsyncIterator[Caller]:
    settings = settings_for(
        mongo_uri,
        db.name,
        fetch_allowed_networks=["127.0.0.1/32"],
        fetch_file_roots=[tmp_path],
    )
    async for http in client_for(settings):
        yield await admin_caller(GraphQLClient(http), db)


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
async def test_a_fixed_configuration_maps_the_kept_raw_record_without_fetching(
    case: Case, admin: Caller, db: Database, tmp_path: Path
) -> None:
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    folder = tmp_path.as_uri()
    spec = SourceSpec(
        id="src",
        name="Source",
        family=case.family,
        kind=case.kind,
        config=case.config(folder, False),
    )
    await add_source(db, spec)
    async with SafeFetcher(FetchPolicy(allow_file_roots=[str(tmp_path)])) as fetcher:
        run = await run_sync(db, "src", fetcher, mode=Mode.FULL)
    assert (run["counts"]["rejected"], run["counts"]["created"]) == (1, 0), run["errors"]
    assert await db[case.entity].count_documents({}) == 0

    for name in case.files:
        (tmp_path / name).unlink()  # reprocessing reads nothing from the source
    fixed = {"id": "src", "config": case.config(folder, True)}
    assert (await admin.data(UPDATE, fixed))["updateSource"]["__typename"] == "Source"
    report = (await admin.data(REPROCESS, {"source": "src"}))["reprocessListings"]

    assert (report["remapped"], report["nowApplied"], report["stillRejected"]) == (1, 1, 0)
    [entity] = await db[case.entity].find({}).to_list()
    if case.entity == COMMUNITIES:
        assert (entity["name"]["ru"], entity["founded_year"]) == ("Союз инженеров", 1998)
    else:
        assert entity["title"]["ru"] == "Митап PyNSK"
        assert entity["starts_at"].date().isoformat() == "2026-12-05"
    assert await db[LISTINGS].count_documents({"rejected": {"$exists": True}}) == 0


async def test_graphql_nodes_and_their_children_are_mapped_again(
    admin: Caller, db: Database
) -> None:
    group = {
        **RECORD,
        "events": {
            "nodes": [
                {"id": "e-1", "title": "Встреча", "start": "05.12.2026 19:00", "online": "yes"}
            ]
        },
    }

    def answer(request: Request) -> Response:
        page = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": [group]}
        return JSONResponse({"data": {"groups": page}})

    def config(url: str, fixed: bool) -> dict[str, Any]:
        start: dict[str, Any] = {"source": "start", "transform": "datetime"}
        if not fixed:
            start["formats"] = ["yyyy-mm-dd"]
        return {
            "url": url,
            "query": "query($after: String) { groups(after: $after) { nodes { id } } }",
            "connection_path": "groups",
            "mapping": community_mapping(fixed=fixed),
            "children": {
                "path": "events",
                "mapping": {
                    "entity": "event",
                    "external_id": "id",
                    "fields": {
                        "title.ru": "title",
                        "starts_at": start,
                        "format": {"value": "meetup"},
                        "attendance_mode": {"value": "online"},
                    },
                },
            },
        }

    async with loopback_server({"/gql": answer}) as server:
        url = server.url("/gql")
        await add_source(
            db,
            SourceSpec(
                id="src",
                name="Groups",
                family="platform",
                kind="graphql",
                config=config(url, False),
            ),
        )
        policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
        async with SafeFetcher(policy) as fetcher:
            run = await run_sync(db, "src", fetcher, mode=Mode.FULL)
    assert run["counts"]["rejected"] == 2, run["errors"]

    fixed = {"id": "src", "config": config(url, True)}
    assert (await admin.data(UPDATE, fixed))["updateSource"]["__typename"] == "Source"
    report = (await admin.data(REPROCESS, {"source": "src"}))["reprocessListings"]

    assert (report["remapped"], report["nowApplied"], report["stillRejected"]) == (2, 2, 0)
    [event] = await db[EVENTS].find({}).to_list()
    [community] = await db[COMMUNITIES].find({}).to_list()
    assert event["organizers"] == [community["_id"]]  # the child kept its parent's id


async def test_a_json_ld_node_kept_raw_is_mapped_again(admin: Caller, db: Database) -> None:
    # A node an earlier version refused, kept as the stream keeps it (the node itself).
    page = "https://events.example.org/2026/pycon"
    config = {"urls": [page], "entities": "events", "language": "ru"}
    await add_source(
        db, SourceSpec(id="src", name="Pages", family="platform", kind="jsonld", config=config)
    )
    node = {
        "@context": "https://schema.org",
        "@type": "Event",
        "@id": f"{page}#event",
        "name": "PyCon RU",
        "startDate": "2026-12-05T10:00:00+03:00",
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode",
        "location": {"@type": "VirtualLocation", "url": "https://pycon.example.org/live"},
    }
    stream = JsonLdPagesConnector("src", JsonLdPagesConfig.model_validate(config), None).streams()
    assert stream  # the kind's stream is what reprocessing asks to map it
    kept = Rejected("the event type was not read (an earlier version)", f"{page}#event", node)
    await keep_unusable(db, EntityType.EVENT, "src", [(kept.external_id, kept.reason, kept.raw)])

    report = (await admin.data(REPROCESS, {"source": "src"}))["reprocessListings"]

    assert (report["remapped"], report["nowApplied"]) == (1, 1)
    [event] = await db[EVENTS].find({}).to_list()
    assert event["title"]["ru"] == "PyCon RU"
