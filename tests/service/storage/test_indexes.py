"""Public reads never reach MongoDB (the read model answers them); the exact reads that
stay there (admin, partner, coordination) are each answered from an index."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import monitoring

from schema.principal import Role
from service.api.metrics import IN_REQUEST, Metrics
from service.auth.keys import create_key
from service.demo.sources import sync_demo_sources
from service.storage.collections import Database
from tests.conftest import TEST_KEY_SECRET, GraphQLClient, client_for, settings_for
from tests.schema.test_showcase import SHOWCASE

READS = ("find", "aggregate", "count")


class CommandRecorder(Metrics):
    """Keeps every read command the API sends, to explain them afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        super().started(event)
        if event.command_name in READS and IN_REQUEST.get():
            self.commands.append(copy.deepcopy(dict(event.command)))


@pytest.fixture
async def recorded(
    mongo_uri: str, demo_db: Database
) -> AsyncIterator[tuple[GraphQLClient, CommandRecorder]]:
    recorder = CommandRecorder()
    async for http in client_for(settings_for(mongo_uri, demo_db.name), recorder):
        yield GraphQLClient(http), recorder


QUERIES: list[tuple[str, dict[str, Any]]] = [
    (SHOWCASE, {"industry": "finance"}),
    ("{ communities(first: 5) { totalCount edges { cursor } } }", {}),
    ("{ communities(last: 5, sort: MEMBER_COUNT_DESC) { edges { cursor } } }", {}),
    ("{ communities(sort: FOUNDED_YEAR, first: 3) { edges { cursor } } }", {}),
    ("{ communities(sort: UPDATED_DESC, first: 3) { edges { cursor } } }", {}),
    ('{ communities(filter: {kinds: [NATIONAL], city: "Москва"}) { totalCount } }', {}),
    ('{ communities(filter: {forms: [CLUSTER], countries: ["RU"]}) { totalCount } }', {}),
    ("{ communities(filter: {formality: INFORMAL, offers: [MENTORSHIP]}) { totalCount } }", {}),
    ('{ communities(filter: {tags: ["fintech"], foundedYear: {min: 1990}}) { totalCount } }', {}),
    ("{ communities(filter: {hasUpcomingEvents: true}) { totalCount } }", {}),
    (
        "{ communities(filter: {OR: [{forms: [REGULATOR]}, {kinds: [CORPORATE]}]}) "
        "{ totalCount edges { node { id } } } }",
        {},
    ),
    ('{ communities(search: "сколковского") { totalCount edges { node { id } } } }', {}),
    (
        '{ community(slug: "skolkovo-innovation-center") { parent { id } partners { id } '
        "members(first: 3) { totalCount edges { node { id } } } "
        "standards(role: ISSUED) { edges { node { id } } } "
        "events(filter: {formats: [CONFERENCE]}) { totalCount edges { node { id } } } } }",
        {},
    ),
    ("{ events(first: 5) { totalCount edges { node { organizers { id } } } } }", {}),
    (
        '{ events(filter: {from: "2000-01-01T00:00:00Z", countries: ["DE"], '
        "attendanceModes: [OFFLINE]}) { totalCount } }",
        {},
    ),
    ('{ events(filter: {city: "Москва", statuses: [CANCELLED]}) { totalCount } }', {}),
    ("{ events(filter: {near: {lat: 55.75, lon: 37.6, radiusKm: 30}}) { totalCount } }", {}),
    ('{ events(search: "хакатон") { totalCount edges { node { id } } } }', {}),
    ("{ standards(filter: {kinds: [TECHNICAL], statuses: [ACTIVE]}) { totalCount } }", {}),
    ('{ standards(filter: {industries: ["it"]}) { edges { node { issuer { id } } } } }', {}),
    ('{ standard(code: "GOST R 1.0-2012") { adoptedBy { id } } }', {}),
    (
        '{ facets(search: "финансы", eventFilter: {formats: [MEETUP]}) { '
        "communities { byKind { value } } events { byMonth { value } } } }",
        {},
    ),
]


def _first_filter(command: dict[str, Any]) -> dict[str, Any] | None:
    """The filter that selects documents (the one an index can serve)."""
    if "find" in command:
        return dict(command.get("filter") or {})
    if "count" in command:
        return dict(command.get("query") or {})
    first = command["pipeline"][0]
    return dict(first["$match"]) if "$match" in first else None


def _served_by_index(
    command: dict[str, Any], explain: dict[str, Any], leading: dict[str, set[str]]
) -> bool:
    """What the embedded server does: a flat filter walks the index of its first clause.

    Its `explain` reports only single-clause and compound plans, so a multi-clause
    filter whose first clause leads an index counts as index-backed too.
    """
    if "IXSCAN" in str(explain.get("queryPlanner")) or "IXSCAN" in str(explain.get("stages")):
        return True
    collection = command.get("find") or command.get("aggregate") or command.get("count")
    selection = _first_filter(command)
    if not selection:
        # The whole collection: counted, or walked in the order of an index.
        sort = list(command.get("sort") or {})
        counted = "count" in command or "$group" in str(command.get("pipeline"))
        return counted or (bool(sort) and (sort[0] == "_id" or sort[0] in leading[str(collection)]))
    first_field = next(iter(selection))
    return not first_field.startswith("$") and first_field in leading[str(collection)]


async def test_public_reads_send_mongodb_no_read(
    recorded: tuple[GraphQLClient, CommandRecorder],
) -> None:
    api, recorder = recorded
    for query, variables in QUERIES:
        await api.data(query, variables)
    assert recorder.commands == []


ADMIN_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("{ sources { id lastRun { id } } }", {}),
    ('{ source(id: "demo-nko-registry") { id } }', {}),
    ("{ syncRuns(first: 5) { totalCount edges { cursor node { id } } } }", {}),
    ('{ syncRuns(filter: {sources: ["demo-nko-registry"]}) { edges { node { id } } } }', {}),
    ('{ rejectedListings(sourceId: "demo-nko-registry") { totalCount } }', {}),
    ("{ apiKeys { id } }", {}),
]


async def test_every_exact_read_uses_an_index(mongo_uri: str, db: Database) -> None:
    recorder = CommandRecorder()
    await sync_demo_sources(db)
    key = await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None)
    async for http in client_for(settings_for(mongo_uri, db.name), recorder):
        api = GraphQLClient(http)
        for query, variables in ADMIN_QUERIES:
            body = await api.query(query, variables, Authorization=f"Bearer {key.key}")
            assert "errors" not in body, body
    assert len(recorder.commands) >= len(ADMIN_QUERIES)
    leading: dict[str, set[str]] = {}
    for name in await db.list_collection_names():
        info = await db[name].index_information()
        leading[name] = {spec["key"][0][0] for spec in info.values()}
    demo_db = db
    unindexed = []
    for command in recorder.commands:
        selection = _first_filter(command)
        assert selection is None or not any(k.startswith("$") for k in selection), command
        explainable = {k: v for k, v in command.items() if not k.startswith(("$", "lsid"))}
        explain = await demo_db.command("explain", explainable)
        if not _served_by_index(command, explain, leading):
            unindexed.append(str(explainable)[:300])
    assert not unindexed, "\n".join(unindexed)


async def test_start_up_creates_declared_indexes_and_drops_stale_ones(db: Database) -> None:
    from service.storage.indexes import INDEXES
    from service.storage.setup import ensure_collections

    await db.communities.create_index([("region", 1)], name="stale_region")
    await ensure_collections(db)
    await ensure_collections(db)  # idempotent
    names = set(await db.communities.index_information())
    assert "stale_region" not in names
    assert names == {i.document["name"] for i in INDEXES["communities"]} | {"_id_"}
