"""What a query document may be cached for: its max-age, its scope, and the entity
collections its answer is read from.

Computed once per document (by its SHA-256 and operation name) from the schema's
`@cacheControl` hints (schema.cache_control), the way Apollo Server does it: a field
takes its own hint, else its type's (for objects, interfaces and unions), else its
parent's; a root field without one takes the service's default. A response gets the
smallest max-age of everything it selects, and is PRIVATE when anything it selects
is. Unlike Apollo, a nested object without a hint inherits its parent's max-age
(Apollo's `inheritMaxAge`): every public type here is read from the same read model,
with the same freshness.

The collections come from the types the document selects or filters by (`READS`):
a change to one of them is what can change the answer (service.api.response_cache).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
)
from graphql.language import OperationType

from schema.cache_control import CacheControl
from schema.enums import CacheControlScope
from service.read_model.rows import COMMUNITIES, EVENTS, STANDARDS

ALL = frozenset({COMMUNITIES, EVENTS, STANDARDS})
# The entity collections behind each type an answer can select or be filtered by.
# Every other type reachable from Query is a value inside these (or static), listed in
# VALUE_TYPES; a test keeps the two lists complete, so a new type needs a decision.
READS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ["Community", "CommunityConnection", "CommunityEdge", "CommunityFacets"],
        frozenset({COMMUNITIES}),
    ),
    **dict.fromkeys(
        ["Event", "EventConnection", "EventEdge", "EventFacets", "EventFilter"],
        frozenset({EVENTS}),
    ),
    "CommunityEventFilter": frozenset({EVENTS}),
    **dict.fromkeys(
        ["Standard", "StandardConnection", "StandardEdge", "StandardFilter"],
        frozenset({STANDARDS}),
    ),
    # `hasUpcomingEvents` filters communities by their events.
    "CommunityFilter": frozenset({COMMUNITIES, EVENTS}),
    "Node": ALL,
    "_Entity": ALL,
}
VALUE_TYPES = frozenset(
    {
        "Query",
        "PageInfo",
        "LocalizedString",
        "Channel",
        "GeoPoint",
        "Identifier",
        "SourceRef",
        "FieldProvenance",
        "FieldAlternative",
        "Venue",
        "Money",
        "Facets",
        "FacetCount",
        "Industry",
        "IntRange",
        "NearInput",
        "_Service",
    }
)
POLICIES_KEPT = 2048
_UNBOUNDED = 2**31  # no field selected yet


@dataclass(frozen=True)
class CachePolicy:
    """How the answer to one operation of a document may be cached."""

    operation: OperationType
    max_age: int
    private: bool
    collections: frozenset[str]

    @property
    def shared(self) -> bool:
        """A query whose answer any cache may keep (for anonymous callers)."""
        return self.operation is OperationType.QUERY and not self.private and self.max_age > 0


@dataclass
class _Found:
    max_age: int
    private: bool = False
    collections: set[str] = field(default_factory=set)


class CachePolicies:
    """Each document's policy, computed once (bounded: the most recently used)."""

    def __init__(self, schema: GraphQLSchema, default_max_age: int, max_tokens: int) -> None:
        self._schema = schema
        self._default_max_age = default_max_age
        self._max_tokens = max_tokens
        self._known: OrderedDict[tuple[str, str | None], CachePolicy | None] = OrderedDict()

    def policy(self, sha256: str, query: str, operation_name: str | None) -> CachePolicy | None:
        """None when the document does not parse or has no such operation: it is run
        as it is and answered with its errors, never cached."""
        key = (sha256, operation_name)
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key]
        found = self._compute(query, operation_name)
        self._known[key] = found
        if len(self._known) > POLICIES_KEPT:
            self._known.popitem(last=False)
        return found

    def _compute(self, query: str, operation_name: str | None) -> CachePolicy | None:
        try:
            document = parse(query, no_location=True, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        operation = _operation(document, operation_name)
        if operation is None:
            return None
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        found = _Found(_UNBOUNDED)
        walk = _Walk(self._schema, fragments, found, self._default_max_age)
        walk.selections(operation.selection_set, root, None)
        max_age = self._default_max_age if found.max_age == _UNBOUNDED else found.max_age
        return CachePolicy(
            operation.operation, max_age, found.private, frozenset(found.collections)
        )


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _hint(extensions: dict[str, object] | None) -> CacheControl | None:
    definition = (extensions or {}).get("strawberry-definition")
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, CacheControl):
            return directive
    return None


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        found: _Found,
        default_max_age: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.found = found
        self.default_max_age = default_max_age
        # A fragment's contribution depends only on the max-age it inherits: walked once
        # per (fragment, inherited), so nested spreads cannot multiply the work.
        self.walked: set[tuple[str, int | None]] = set()

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, inherited: int | None
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, inherited)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.selections(selection.selection_set, target or parent, inherited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or (name, inherited) in self.walked:
                    continue  # unknown (validation refuses it), walked, or a cycle
                self.walked.add((name, inherited))
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.selections(fragment.selection_set, target or parent, inherited)

    def field(self, node: FieldNode, parent: GraphQLNamedType, inherited: int | None) -> None:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return  # introspection, or a union's fields (only through fragments)
        definition = parent.fields.get(name)
        if definition is None:
            return  # validation refuses it
        named = get_named_type(definition.type)
        self.reads(named.name)
        for argument in node.arguments or ():
            argument_definition = definition.args.get(argument.name.value)
            if argument_definition is not None:
                self.inputs(get_named_type(argument_definition.type), set())
        hint = _hint(definition.extensions)
        composite = node.selection_set is not None
        if hint is None and composite:
            hint = _hint(named.extensions)
        max_age = inherited if inherited is not None else self.default_max_age
        if hint is not None:
            if isinstance(hint.max_age, int):
                max_age = hint.max_age
            if hint.scope is CacheControlScope.PRIVATE:
                self.found.private = True
        self.found.max_age = min(self.found.max_age, max_age)
        if node.selection_set is not None:
            self.selections(node.selection_set, named, max_age)

    def reads(self, type_name: str) -> None:
        self.found.collections |= READS.get(type_name, frozenset())

    def inputs(self, named: GraphQLNamedType, seen: set[str]) -> None:
        if named.name in seen:
            return
        seen.add(named.name)
        self.reads(named.name)
        if isinstance(named, GraphQLInputObjectType):
            for input_field in named.fields.values():
                self.inputs(get_named_type(input_field.type), seen)
