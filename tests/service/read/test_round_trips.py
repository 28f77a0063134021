"""Public reads come from the read model: the showcase query costs no database round trip."""

from __future__ import annotations

from pymongo import monitoring

from service.api.metrics import Metrics
from tests.conftest import GraphQLClient
from tests.schema.test_showcase import SHOWCASE

PAGE_SIZE_SHOWCASE = SHOWCASE.replace("first: 20)", "first: $size)").replace(
    "($industry: String!)", "($industry: String!, $size: Int!)"
)


async def _round_trips(api: GraphQLClient, metrics: Metrics, size: int) -> int:
    before = sum(metrics.request_db_commands.values())
    data = await api.data(PAGE_SIZE_SHOWCASE, {"industry": "it", "size": size})
    assert len(data["communities"]["edges"]) == min(size, data["communities"]["totalCount"])
    return sum(metrics.request_db_commands.values()) - before


async def test_the_showcase_costs_no_database_round_trip(
    counted: tuple[GraphQLClient, Metrics],
) -> None:
    api, metrics = counted
    assert await _round_trips(api, metrics, 5) == 0
    assert await _round_trips(api, metrics, 50) == 0


def test_metrics_counts_commands_as_a_listener() -> None:
    metrics = Metrics()
    assert isinstance(metrics, monitoring.CommandListener)
    assert "guildgraph_db_commands_total" in metrics.render()
    assert "guildgraph_db_request_commands_total" in metrics.render()
