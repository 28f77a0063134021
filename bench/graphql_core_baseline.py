"""The floor of GraphQL execution: plain graphql-core running a query over data in memory.

`make bench` prints the API's CPU per showcase request beside this: the same query
document, executed by graphql-core alone over the same response data held in plain
dicts (default resolvers, no database, no HTTP, no Strawberry). The ratio says how
much of the API's cost is the GraphQL engine and how much is ours.
"""

from __future__ import annotations

import time
from typing import Any

from graphql import build_schema, execute, parse, validate

# The types the showcase and the slug look-up select, as plain SDL; arguments are
# declared so the same documents validate, and ignored by the default resolvers.
SDL = """
scalar DateTime
input CommunityFilter { industries: [String!] }
enum Kind { PROFESSIONAL CORPORATE NATIONAL INTERNATIONAL SPECIALIZED }
type PageInfo { hasNextPage: Boolean! endCursor: String }
type Event { id: ID! title: String! startsAt: DateTime! format: String! attendanceMode: String! }
type EventEdge { node: Event! }
type EventConnection { edges: [EventEdge!]! }
type Standard { id: ID! code: String! title: String! kind: String! }
type StandardEdge { node: Standard! }
type StandardConnection { edges: [StandardEdge!]! }
type Community {
  id: ID! slug: String! name: String! kind: String! form: String!
  industries: [String!]! countries: [String!]! website: String
  events(first: Int): EventConnection!
  standards(first: Int): StandardConnection!
}
type CommunityEdge { node: Community! }
type CommunityConnection { totalCount: Int! pageInfo: PageInfo! edges: [CommunityEdge!]! }
type FacetCount { value: String! count: Int! }
type CommunityFacets { byKind: [FacetCount!]! byForm: [FacetCount!]! }
type Facets { communities: CommunityFacets! }
type Query {
  communities(filter: CommunityFilter, first: Int): CommunityConnection!
  community(slug: String!): Community
  facets(filter: CommunityFilter): Facets!
}
"""


def cpu_us_per_execution(
    query: str, variables: dict[str, Any], data: dict[str, Any], repeat: int = 200
) -> float:
    """CPU microseconds per execution of `query` over `data` (a response's `data`), after
    parsing and validating once, as a server with parse and validation caches does."""
    schema = build_schema(SDL)
    document = parse(query)
    errors = validate(schema, document)
    if errors:
        raise RuntimeError(f"the baseline schema does not fit the query: {errors[0].message}")
    for _ in range(10):
        execute(schema, document, root_value=data, variable_values=variables)
    started = time.process_time()
    for _ in range(repeat):
        result = execute(schema, document, root_value=data, variable_values=variables)
    elapsed = time.process_time() - started
    if result.errors:  # type: ignore[union-attr]
        raise RuntimeError(f"baseline execution failed: {result.errors[0].message}")  # type: ignore[union-attr]
    # The whole answer was made again, field by field: nothing was skipped.
    if result.data != data:  # type: ignore[union-attr]
        raise RuntimeError("baseline execution answered other data than it was given")
    return elapsed / repeat * 1e6
