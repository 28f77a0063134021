"""Apollo Federation 2: keys, _service SDL, batched _entities, checked-in SDL."""

from __future__ import annotations

from schema.relay import to_global_id
from schema.root import export_sdl
from service.api.metrics import Metrics
from tests.conftest import REPO, GraphQLClient


def test_checked_in_sdl_matches_the_code() -> None:
    checked_in = (REPO / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert checked_in == export_sdl(), "run `make schema` (guildgraph schema export)"


async def test_service_sdl_declares_keys_on_the_three_entities(api: GraphQLClient) -> None:
    sdl = (await api.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert "@link" in sdl
    for type_name in ("Community", "Event", "Standard"):
        assert f'type {type_name} implements Node @key(fields: "id")' in sdl


async def test_entities_resolve_from_the_read_model(
    counted: tuple[GraphQLClient, Metrics],
) -> None:
    api, metrics = counted
    listing = await api.data(
        """{ communities(first: 6) { edges { node { id } } }
             events(first: 4, filter: {from: "2000-01-01T00:00:00Z"}) { edges { node { id } } }
             standards(first: 3) { edges { node { id } } } }"""
    )
    representations = [
        {"__typename": typename, "id": edge["node"]["id"]}
        for typename, field in (
            ("Community", "communities"),
            ("Event", "events"),
            ("Standard", "standards"),
        )
        for edge in listing[field]["edges"]
    ]
    representations.append({"__typename": "Community", "id": representations[0]["id"]})
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Community { id slug } ... on Event { id title } ... on Standard { id code } } }"""
    before = sum(metrics.request_db_commands.values())
    data = await api.data(query, {"r": representations})
    round_trips = sum(metrics.request_db_commands.values()) - before
    entities = data["_entities"]
    assert [e["id"] for e in entities] == [r["id"] for r in representations]
    assert round_trips == 0


async def test_unknown_entity_resolves_to_null(counted: tuple[GraphQLClient, Metrics]) -> None:
    api, _ = counted
    ghost = to_global_id("Community", "5f0000000000000000000000")
    data = await api.data(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Community { id } } }",
        {"r": [{"__typename": "Community", "id": ghost}]},
    )
    assert data["_entities"] == [None]
