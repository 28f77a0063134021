"""The query cost limit: what an operation asks for, computed before anything runs.

A request's cost is computed from its document and variables alone, after
validation and before execution, and compared with the caller's budget:

- every object selected costs 1 per instance (a node, an edge, `pageInfo`, a
  nested object); scalars and enums cost nothing;
- a connection (a field taking `first`/`last`) costs 1 for its page, and the
  edges (or nodes) it returns count `first`/`last` times: the argument's value,
  from a literal or a variable, 20 when absent, at most 100;
- a list without page arguments counts as 10 items (`_entities` as many as its
  representations);
- `totalCount` and the facet counts (`facets { communities }`, `facets { events }`)
  weigh 200 each: they read everything their filter matches, whatever the page;
- nested pages multiply through, every alias counts, fragments are expanded where
  they are spread (every branch of a union or interface counts), introspection
  is free.

So `communities(first: 100) { totalCount }` costs 1 + 200 = 201, and
`communities(first: 10) { edges { node { events(first: 5) { edges { node { id } } } } } }`
costs 1 + 10 * (1 + 1 + 1 + 5 * (1 + 1)) = 131.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    validate,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from schema.principal import Principal, Role
from schema.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

OBJECT_COST = 1
# Items assumed in a list that takes no page size (organizers, adoptedBy, facet counts).
LIST_SIZE = 10
# A count or a facet aggregation reads every document its filter matches.
SCAN_COST = 200
# Fields that scan, by name on any type ("totalCount") or by "Type.field".
WEIGHTS: Mapping[str, int] = {
    "totalCount": SCAN_COST,
    "Facets.communities": SCAN_COST,
    "Facets.events": SCAN_COST,
}
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True)
class CostBudgets:
    """The most a single operation may cost, per caller role."""

    anonymous: int = 5000
    partner: int = 20000
    admin: int = 50000

    def for_role(self, role: Role) -> int:
        budgets = {Role.ANONYMOUS: self.anonymous, Role.PARTNER: self.partner}
        return budgets.get(role, self.admin)


class _Walk:
    """One operation's cost; a (selection set, type, page) is costed once however
    often its fragment is spread, so the walk is linear in the document."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._known: dict[tuple[int, str, int | None], int] = {}

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, page: int | None
    ) -> int:
        """The cost of a selection set on `parent`; `page` is the size of a list here
        when the set belongs to a connection (its edges, its nodes)."""
        if selection_set is None:
            return 0
        key = (id(selection_set), parent.name, page)
        known = self._known.get(key)
        if known is not None:
            return known
        self._known[key] = 0  # a fragment cycle (refused by validation) adds nothing
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self._type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, target, page)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    target = self._type(fragment.type_condition.name.value)
                    total += self.selections(fragment.selection_set, target, page)
        self._known[key] = total
        return total

    def field(self, node: FieldNode, parent: GraphQLNamedType, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0  # introspection and __typename: no data is read
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        weight = WEIGHTS.get(f"{parent.name}.{name}", WEIGHTS.get(name))
        target = get_named_type(definition.type)
        if is_leaf_type(target):
            return weight or 0
        own = OBJECT_COST if weight is None else weight
        arguments = self._arguments(node)
        if any(argument in definition.args for argument in PAGE_ARGUMENTS):
            return own + self.selections(node.selection_set, target, _page_size(arguments))
        items = 1
        if is_list_type(get_nullable_type(definition.type)):
            sized = [len(value) for value in arguments.values() if isinstance(value, list)]
            items = page if page is not None else max(sized, default=LIST_SIZE)
        return items * (own + self.selections(node.selection_set, target, None))

    def _arguments(self, node: FieldNode) -> dict[str, Any]:
        return {
            argument.name.value: value_from_ast_untyped(argument.value, self._variables)
            for argument in node.arguments or ()
        }

    def _type(self, name: str) -> GraphQLNamedType:
        found = self._schema.get_type(name)
        if found is None:
            raise GraphQLError(f"unknown type {name!r}")
        return found


def _page_size(arguments: Mapping[str, Any]) -> int:
    sizes = [
        value
        for value in (arguments.get(name) for name in PAGE_ARGUMENTS)
        if isinstance(value, int) and not isinstance(value, bool)
    ]
    if not sizes:
        return DEFAULT_PAGE_SIZE
    # A page over the maximum is refused by the resolver; it never reads more.
    return max(0, min(max(sizes), MAX_PAGE_SIZE))


def _variables(
    operation: OperationDefinitionNode, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = {
        definition.variable.name.value: value_from_ast_untyped(definition.default_value)
        for definition in operation.variable_definitions or ()
        if definition.default_value is not None
    }
    return values | dict(given or {})


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The cost of the operation `operation_name` of a valid document (see the module)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, _variables(operation, variables))
    return walk.selections(operation.selection_set, root, None)


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation whose cost exceeds the caller's budget, before it runs.

    It runs in the validation step, after `ValidationCache` (listed before it) has
    validated the document; without a cache ahead of it, it validates first itself.
    """

    def __init__(self, budgets: CostBudgets) -> None:
        self._budgets = budgets

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            schema: GraphQLSchema = context.schema._schema
            if context.pre_execution_errors is None:
                context.pre_execution_errors = validate(schema, document, context.validation_rules)
            if not context.pre_execution_errors:
                principal = getattr(context.context, "principal", None)
                role = principal.role if isinstance(principal, Principal) else Role.ANONYMOUS
                limit = self._budgets.for_role(role)
                cost = query_cost(schema, document, context.variables, context.operation_name)
                if cost > limit:
                    context.pre_execution_errors = [
                        GraphQLError(
                            f"query cost {cost} exceeds the limit {limit} for {role.value} callers",
                            extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "limit": limit},
                        )
                    ]
        yield
