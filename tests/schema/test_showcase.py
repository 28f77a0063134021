"""The showcase query from the read-API issue, as written, over the demo dataset."""

from __future__ import annotations

from tests.conftest import GraphQLClient

SHOWCASE = """
query Showcase($industry: String!) {
  communities(filter: {industries: [$industry]}, first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id slug name kind form industries countries website
      events(first: 5) { edges { node { id title startsAt format attendanceMode } } }
      standards(first: 5) { edges { node { id code title kind } } }
    } }
  }
  facets(filter: {industries: [$industry]}) {
    communities { byKind { value count } byForm { value count } }
  }
}
"""


async def test_showcase_query_returns_communities_with_events_and_standards(
    api: GraphQLClient,
) -> None:
    data = await api.data(SHOWCASE, {"industry": "it"})
    connection = data["communities"]
    nodes = [edge["node"] for edge in connection["edges"]]
    assert connection["totalCount"] >= len(nodes) > 0
    assert all("it" in node["industries"] for node in nodes)
    assert any(node["events"]["edges"] for node in nodes)
    assert any(node["standards"]["edges"] for node in nodes)
    by_kind = data["facets"]["communities"]["byKind"]
    assert sum(f["count"] for f in by_kind) == connection["totalCount"]
