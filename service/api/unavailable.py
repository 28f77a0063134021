"""A database that does not answer: each request waits a bounded time for it, then
gets one clear `503` (DATA_STORE_UNAVAILABLE, with Retry-After), never a hang, a bare
500 or a masked "Internal server error".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pymongo
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from pymongo.errors import ConnectionFailure, PyMongoError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from service.api.http_errors import RequestError
from service.read_model.store import ReadModelUnavailable

logger = logging.getLogger("guildgraph.http")

DATA_STORE_UNAVAILABLE = "DATA_STORE_UNAVAILABLE"
MESSAGE = "the data store is unavailable; retry later"
RETRY_AFTER_S = 5


def is_unavailable(error: BaseException | None) -> bool:
    """Whether the data store did not answer: no database server, a lost connection, a
    timeout, or a read model not built yet (also when our code re-raised it as the
    cause of its own error)."""
    while error is not None:
        if isinstance(error, ConnectionFailure | ReadModelUnavailable) or (
            isinstance(error, PyMongoError) and error.timeout
        ):
            return True
        error = error.__cause__
    return False


def unavailable() -> RequestError:
    return RequestError(
        503, MESSAGE, {"Retry-After": str(RETRY_AFTER_S)}, code=DATA_STORE_UNAVAILABLE
    )


def log_unavailable(request_id: str, error: BaseException) -> None:
    # One line per request: the driver's message ends in the whole topology description.
    reason = str(error).split(", Topology Description:")[0][:300]
    logger.warning(
        "request %s: the data store is unavailable: %s: %s",
        request_id,
        type(error).__name__,
        reason,
    )


def is_unavailable_result(errors: list[GraphQLError]) -> bool:
    return any((error.extensions or {}).get("code") == DATA_STORE_UNAVAILABLE for error in errors)


class DatabaseBound(SchemaExtension):
    """Bounds a query's database work, and turns a resolver's database failure into
    one DATA_STORE_UNAVAILABLE error for the whole result.

    Queries get `timeout_s` in all (`pymongo.timeout`: every operation of the
    request, DataLoader batches included, shares one deadline). Mutations are not
    given a deadline: a partner's batch of 500 listings may work for seconds; each
    of their operations still waits at most the client's server-selection bound for
    a database that is gone. Subscriptions live as long as their socket.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        query = context.operation_type is OperationType.QUERY
        with pymongo.timeout(self._timeout_s) if query else contextlib.nullcontext():
            yield
        result = context.result
        if not isinstance(result, GraphQLExecutionResult | ExecutionResult) or not result.errors:
            return
        failed = next(
            (e.original_error for e in result.errors if is_unavailable(e.original_error)), None
        )
        if failed is None:
            return
        log_unavailable(getattr(context.context, "request_id", "-"), failed)
        # Partial data would hide the outage; the transport answers 503 for the whole.
        result.data = None
        result.errors = [
            GraphQLError(
                MESSAGE,
                extensions={"code": DATA_STORE_UNAVAILABLE, "retryAfter": RETRY_AFTER_S},
            )
        ]
