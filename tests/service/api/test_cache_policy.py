"""A document's cache policy: the smallest max-age of what it selects (the schema's
@cacheControl hints), PRIVATE for admin fields, and the collections it reads."""

from __future__ import annotations

import pytest
import strawberry
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
)
from graphql.language import OperationType

from schema.cache_control import CacheControl
from schema.enums import CacheControlScope
from schema.root import build_schema, export_sdl
from service.api.cache_policy import READS, VALUE_TYPES, CachePolicies, CachePolicy, _hint
from service.api.persisted_queries import sha256_of
from tests.schema.test_showcase import SHOWCASE

SCHEMA = build_schema()._schema
DEFAULT = 5


def policy(query: str, operation_name: str | None = None) -> CachePolicy | None:
    return CachePolicies(SCHEMA, DEFAULT, 2000).policy(sha256_of(query), query, operation_name)


def test_a_public_query_gets_the_default_max_age_and_reads_what_it_selects() -> None:
    found = policy('{ community(slug: "x") { name parent { name } } }')
    assert found == CachePolicy(OperationType.QUERY, DEFAULT, False, frozenset({"communities"}))
    assert found.shared


def test_the_showcase_reads_all_three_collections() -> None:
    found = policy(SHOWCASE)
    assert found is not None
    assert found.collections == {"communities", "events", "standards"}
    assert found.max_age == DEFAULT


def test_a_connection_without_nodes_still_reads_its_collection() -> None:
    found = policy('{ community(slug: "x") { events { totalCount } } }')
    assert found is not None
    assert found.collections == {"communities", "events"}


def test_a_community_filter_reads_events_too() -> None:
    # `hasUpcomingEvents` is decided on events, whatever the document selects.
    found = policy("query($f: CommunityFilter) { communities(filter: $f) { totalCount } }")
    assert found is not None
    assert found.collections == {"communities", "events"}


def test_node_and_entities_may_read_anything() -> None:
    found = policy('{ node(id: "x") { id ... on Event { title } } }')
    assert found is not None
    assert found.collections == {"communities", "events", "standards"}


def test_a_hint_sets_the_max_age_and_the_smallest_wins() -> None:
    vocabulary = policy("{ industries { code nameRu } }")
    assert vocabulary is not None
    assert (vocabulary.max_age, vocabulary.collections) == (3600, frozenset())
    mixed = policy('{ industries { code } community(slug: "x") { name } }')
    assert mixed is not None
    assert mixed.max_age == DEFAULT


def test_fragments_count_where_they_are_spread() -> None:
    query = """
    query { ...Vocabulary events(first: 1) { edges { node { ...Title } } } }
    fragment Vocabulary on Query { industries { code } }
    fragment Title on Event { title organizers { name } }
    """
    found = policy(query)
    assert found is not None
    assert found.max_age == DEFAULT
    assert found.collections == {"events", "communities"}


def test_admin_fields_are_private_and_never_shared() -> None:
    found = policy("{ sources { id } }")
    assert found is not None
    assert found.private
    assert found.max_age == 0
    assert not found.shared
    both = policy("{ industries { code } apiKeys { id } }")
    assert both is not None
    assert not both.shared


def test_mutations_are_never_shared() -> None:
    found = policy('mutation { revokeApiKey(id: "x") { __typename } }')
    assert found is not None
    assert found.operation is OperationType.MUTATION
    assert not found.shared


def test_the_operation_is_picked_by_name() -> None:
    query = "query A { industries { code } } query B { sources { id } }"
    a, b = policy(query, "A"), policy(query, "B")
    assert a is not None
    assert a.shared
    assert b is not None
    assert not b.shared
    assert policy(query) is None  # two operations and no name: an error, run as it is
    assert policy(query, "C") is None


@pytest.mark.parametrize("query", ["{ communities(", "", "fragment F on Query { industries }"])
def test_a_document_without_a_runnable_operation_has_no_policy(query: str) -> None:
    assert policy(query) is None


def test_nested_fragment_spreads_cost_no_more_than_once_each() -> None:
    # 40 fragments each spreading the next twice: walked once each, not 2^40 times.
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40)] + [
        "fragment F40 on Query { industries { code } }"
    ]
    found = policy("{ ...F0 }\n" + "\n".join(fragments))
    assert found is not None
    assert found.max_age == 3600


def _reachable_public_types() -> set[str]:
    """Every object, interface, union and input type a query can reach without passing
    a PRIVATE field (what an anonymous answer can hold)."""
    seen: set[str] = set()
    pending: list[GraphQLNamedType] = [SCHEMA.query_type] if SCHEMA.query_type else []
    while pending:
        named = pending.pop()
        if named.name in seen or named.name.startswith("__"):
            continue
        seen.add(named.name)
        if isinstance(named, GraphQLUnionType):
            pending.extend(named.types)
        if isinstance(named, GraphQLInputObjectType):
            pending.extend(get_named_type(f.type) for f in named.fields.values())
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            if isinstance(named, GraphQLInterfaceType):
                pending.extend(SCHEMA.get_possible_types(named))
            for field in named.fields.values():
                hint = _hint(field.extensions)
                if hint is not None and hint.scope is CacheControlScope.PRIVATE:
                    continue
                pending.append(get_named_type(field.type))
                pending.extend(get_named_type(a.type) for a in field.args.values())
    composite = (
        GraphQLObjectType,
        GraphQLInterfaceType,
        GraphQLUnionType,
        GraphQLInputObjectType,
    )
    return {name for name in seen if isinstance(SCHEMA.type_map[name], composite)}


def test_every_type_an_anonymous_answer_can_hold_is_declared() -> None:
    """A new type must say which collections it is read from (READS) or that it is a
    value inside them (VALUE_TYPES): else a change could not invalidate its answers."""
    undeclared = _reachable_public_types() - set(READS) - VALUE_TYPES
    assert not undeclared, f"declare in service/api/cache_policy.py: {sorted(undeclared)}"


def test_the_hints_are_in_the_sdl_as_apollo_defines_them() -> None:
    sdl = export_sdl()
    assert (
        "directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean)"
        " on FIELD_DEFINITION | OBJECT | INTERFACE | UNION"
    ) in sdl
    assert "apiKeys: [ApiKey!]! @cacheControl(maxAge: 0, scope: PRIVATE)" in sdl
    assert "industries: [Industry!]! @cacheControl(maxAge: 3600)" in sdl


@strawberry.type(directives=[CacheControl(max_age=30)])
class Slow:
    name: str


@strawberry.type
class HintedQuery:
    @strawberry.field
    def slow(self) -> Slow:
        return Slow(name="a")

    @strawberry.field(directives=[CacheControl(max_age=2)])
    def fast(self) -> Slow:
        return Slow(name="b")

    @strawberry.field
    def plain(self) -> str:
        return "c"


def test_a_type_hint_holds_wherever_the_type_is_selected_unless_its_field_says_otherwise() -> None:
    schema = strawberry.Schema(query=HintedQuery)._schema

    def max_age(query: str) -> int:
        found = CachePolicies(schema, 60, 2000).policy(sha256_of(query), query, None)
        assert found is not None
        return found.max_age

    assert max_age("{ slow { name } }") == 30
    assert max_age("{ fast { name } }") == 2
    assert max_age("{ plain }") == 60
    assert max_age("{ slow { name } plain }") == 30
