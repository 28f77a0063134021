"""Client input errors in plain words: the DateTime scalar's, and where an inline one is.

`DATE_TIME` reads what Strawberry's own DateTime reads (ISO 8601, through the same
parser), but a value it cannot read is answered with schema.dates' words, not the
parser's. Passed in a variable, graphql-core puts the path in front ("Variable
'$input' has invalid value at .listings[0].event.startsAt: 'yesterday' is not a date
and time; use ISO 8601 such as ..."). Written inline, graphql-core reports a
scalar's own error with neither place nor field; `ValuesNamingTheirField` adds both
("filter.from: 'yesterday' is not a date and time; ..." at line 1, column 31), and
`PlainInputErrors` puts it in the place of graphql-core's rule for every operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import strawberry
from graphql import (
    SKIP,
    ArgumentNode,
    GraphQLError,
    GraphQLInputType,
    ListValueNode,
    Node,
    ObjectValueNode,
    ValidationContext,
    ValueNode,
    VariableDefinitionNode,
    VisitorAction,
)
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ValuesOfCorrectTypeRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from schema.dates import not_a_date_time


def _parse_date_time(value: object) -> object:
    parse = DateTimeDefinition.parse_value
    if parse is None:  # pragma: no cover - Strawberry always defines it
        raise RuntimeError("Strawberry's DateTime has no parser")
    try:
        return parse(value)
    except GraphQLError:
        raise GraphQLError(not_a_date_time(value)) from None


DATE_TIME: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description=DateTimeDefinition.description,
    serialize=datetime.isoformat,
    parse_value=_parse_date_time,
)
SCALARS: dict[object, ScalarDefinition] = {datetime: DATE_TIME}


class ValuesNamingTheirField(ValuesOfCorrectTypeRule):
    """graphql-core's rule for inline values, whose errors raised by a scalar itself
    (they come without a place) name the argument field and point at the value."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._owner: str | None = None  # the argument or variable a value belongs to

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._owner = node.name.value

    def leave_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._owner = None

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        self._owner = f"${node.variable.name.value}"

    def leave_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        self._owner = None

    # As graphql-core 3.3's own, except for the errors it hands on.
    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        if input_type:

            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                if not error.nodes:
                    error = GraphQLError(
                        f"{_where(self._owner, path)}: {error.message}",
                        _value_at(node, path),
                        original_error=error.original_error,
                    )
                self.report_error(error)

            validate_input_literal(
                node, input_type, on_error, None, None, self.context.hide_suggestions
            )
        return SKIP


def _where(owner: str | None, path: list[str | int]) -> str:
    where = owner or ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else part
    return where or "value"


def _value_at(node: ValueNode, path: list[str | int]) -> Node:
    """The value node `path` leads to from `node` (as far as it can be followed)."""
    for part in path:
        if isinstance(part, int) and isinstance(node, ListValueNode) and part < len(node.values):
            node = node.values[part]
        elif isinstance(node, ObjectValueNode):
            found = next((f.value for f in node.fields if f.name.value == part), None)
            if found is None:
                break
            node = found
        else:
            break
    return node


class PlainInputErrors(SchemaExtension):
    """Validates inline values with `ValuesNamingTheirField` in place of graphql-core's rule."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = tuple(
            ValuesNamingTheirField if rule is ValuesOfCorrectTypeRule else rule
            for rule in context.validation_rules
        )
        yield
