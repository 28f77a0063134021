"""The showcase query costs a constant number of database round trips (DataLoaders)."""

from __future__ import annotations

from pymongo import monitoring

from service.api.metrics import Metrics
from tests.conftest import GraphQLClient
from tests.schema.test_showcase import SHOWCASE

PAGE_SIZE_SHOWCASE = SHOWCASE.replace("first: 20)", "first: $size)").replace(
    "($industry: String!)", "($industry: String!, $size: Int!)"
)


async def _round_trips(api: GraphQLClient, metrics: Metrics, size: int) -> int:
    before = sum(metrics.db_commands.values())
    data = await api.data(PAGE_SIZE_SHOWCASE, {"industry": "it", "size": size})
    assert len(data["communities"]["edges"]) == min(size, data["communities"]["totalCount"])
    return sum(metrics.db_commands.values()) - before


async def test_showcase_round_trips_do_not_grow_with_page_size(
    counted: tuple[GraphQLClient, Metrics],
) -> None:
    api, metrics = counted
    small = await _round_trips(api, metrics, 5)
    large = await _round_trips(api, metrics, 50)
    assert small == large
    # One aggregation answers the page, totalCount and the facets of the same filter;
    # one more each for the events and the standards of every community on the page.
    assert large == 3


def test_metrics_counts_commands_as_a_listener() -> None:
    metrics = Metrics()
    assert isinstance(metrics, monitoring.CommandListener)
    assert "guildgraph_db_commands_total" in metrics.render()
