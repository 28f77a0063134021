"""The composition root: the per-entity query, mutation and subscription classes
composed into one federated schema, with its limits and error masking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.admin.root import AdminMutation, AdminQuery
from schema.community import CommunityQuery
from schema.cost import CostBudgets, QueryCostLimiter
from schema.event import EventQuery
from schema.facets import FacetQuery
from schema.input_errors import SCALARS, PlainInputErrors
from schema.live import LiveSubscription
from schema.node import NodeQuery
from schema.partner import PartnerMutation
from schema.standard import StandardQuery

logger = logging.getLogger("guildgraph.errors")


@strawberry.type
class Query(CommunityQuery, EventQuery, StandardQuery, FacetQuery, NodeQuery, AdminQuery):
    pass


@strawberry.type
class Mutation(PartnerMutation, AdminMutation):
    pass


@strawberry.type
class Subscription(LiveSubscription):
    pass


def _if_fields(root: type) -> type | None:
    """A root type with no fields yet is left out (GraphQL forbids empty types)."""
    return root if root.__strawberry_definition__.fields else None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SchemaLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    introspection: bool = True
    field_suggestions: bool = True
    cost_budgets: CostBudgets = field(default_factory=CostBudgets)


def _is_unexpected(error: GraphQLError) -> bool:
    # Client mistakes are GraphQLErrors (syntax, validation, UserInputError);
    # anything else escaped from our code and must not leak its message.
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Masks unexpected errors and logs each one once with the request id."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=self._mask_and_log, error_message="Internal server error"
        )

    def _mask_and_log(self, error: GraphQLError) -> bool:
        if not _is_unexpected(error):
            return False
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "-")
        logger.error(
            "unexpected error in request %s at %s",
            request_id,
            ".".join(str(p) for p in error.path or []),
            exc_info=error.original_error,
        )
        return True


class _Schema(strawberry.federation.Schema):
    """Strawberry logs every error with a traceback, a partner's typo and a denied
    call alike; unexpected ones are logged once by `MaskUnexpectedErrors`, and the
    rest are the client's, answered in the response."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def build_schema(
    limits: SchemaLimits | None = None, runtime: Sequence[Callable[[], SchemaExtension]] = ()
) -> strawberry.federation.Schema:
    """The schema with its limits; `runtime` adds the service's own extensions."""
    limits = limits or SchemaLimits()
    # The depth and alias rules are made once: the validation cache is keyed by the
    # rules too, and a limiter made per request brings new rule classes each time, so
    # every request was validated anew (13 % of the API's CPU per showcase request).
    limit_rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    # Factories, so each request gets fresh extension instances (they hold the
    # request's execution context); the parser/validation caches are module-level.
    # The cost limiter follows the validation cache: it costs validated documents.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        lambda: QueryCostLimiter(limits.cost_budgets),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(limit_rules),
        PlainInputErrors,
        *runtime,
        MaskUnexpectedErrors,
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    return _Schema(
        query=Query,
        mutation=_if_fields(Mutation),
        subscription=_if_fields(Subscription),
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=not limits.field_suggestions, scalar_map=SCALARS
        ),
    )


def export_sdl(schema: strawberry.federation.Schema | None = None) -> str:
    return (schema or build_schema()).as_str() + "\n"


__all__: Sequence[str] = (
    "Mutation",
    "Query",
    "SchemaLimits",
    "Subscription",
    "build_schema",
    "export_sdl",
)
