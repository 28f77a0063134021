"""GraphQL over HTTP (POST and GET), following the GraphQL-over-HTTP specification.

Strawberry's own view decodes bodies inside its JSON handling (invalid UTF-8
becomes a 500) and has no size limit, so requests are parsed here and only
well-formed ones reach `schema.execute`.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pymongo
import strawberry
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from schema.context import Context
from schema.principal import ANONYMOUS, Principal
from schema.taxonomy import Lang
from service.api.graphql_request import decode_json_body, parse_get, parse_params, read_body
from service.api.http_errors import RequestError, error_response
from service.api.metrics import IN_REQUEST, Metrics
from service.api.negotiation import GRAPHQL_RESPONSE, JSON, preferred_language, response_media_type
from service.api.request_context import Services
from service.api.safety_net import request_id_of
from service.api.unavailable import (
    is_unavailable,
    is_unavailable_result,
    log_unavailable,
    unavailable,
)
from service.auth.keys import Unauthenticated, authenticate, key_secret
from service.auth.rate_limits import Limits, RateLimiter

logger = logging.getLogger("guildgraph.http")


class GraphQLEndpoint:
    """The `/graphql` HTTP handler."""

    def __init__(
        self,
        schema: strawberry.federation.Schema,
        services: Services,
        *,
        metrics: Metrics,
        default_lang: Lang = Lang.RU,
    ) -> None:
        settings = services.settings
        self._metrics = metrics
        self._schema = schema
        self._services = services
        self._max_body_bytes = settings.max_body_bytes
        self._graphiql_html = (
            get_graphql_ide_html("graphiql") if settings.graphiql_enabled else None
        )
        self._default_lang = default_lang
        self._secret = key_secret(settings)
        self._limits = Limits(
            settings.rate_limit_window_s,
            settings.rate_limit_per_key,
            settings.rate_limit_per_address,
        )
        self._db_timeout_s = settings.db_timeout_s

    async def before_request(self) -> None:
        """What every operation waits for before it reads (see Services.before_request)."""
        await self._services.before_request()

    def context(
        self, principal: Principal, request_id: str, accept_language: str | None
    ) -> Context:
        lang = preferred_language(accept_language, self._default_lang)
        return self._services.context(principal, request_id, lang)

    async def admit(self, authorization: str | None, client: str) -> Principal:
        """The caller behind the headers, counted against its rate limits.

        Raises RequestError 401 for a bad key and 429 (with Retry-After) over a limit; a
        bad key counts as a request of its address, so guessing keys is rate limited too.
        The database work is bounded by `db_timeout_s` (a PyMongo timeout error after it).
        """
        db = self._services.database()
        with pymongo.timeout(self._db_timeout_s):
            try:
                principal = await authenticate(db, self._secret, authorization, client)
            except Unauthenticated as error:
                wait = await self.retry_after(Principal(ANONYMOUS.role, client=client))
                if wait is not None:
                    raise _over_limit(wait) from None
                raise RequestError(401, str(error), {"WWW-Authenticate": "Bearer"}) from None
            wait = await self.retry_after(principal)
        if wait is not None:
            raise _over_limit(wait)
        return principal

    async def retry_after(self, principal: Principal) -> int | None:
        """Count one request of `principal`; seconds to wait when over a limit, else None.

        HTTP requests, WebSocket connections and each operation sent over a WebSocket
        all count, so a socket is no way around the limits.
        """
        limiter = RateLimiter(self._services.database(), self._limits)
        if not limiter.enabled:
            return None
        with pymongo.timeout(self._db_timeout_s):
            return await limiter.retry_after(principal)

    async def handle(self, request: Request) -> Response:
        in_request = IN_REQUEST.set(True)
        try:
            response = await self._respond(request)
        finally:
            IN_REQUEST.reset(in_request)
        self._metrics.request_done(response.status_code)
        return response

    async def _respond(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        if (
            request.method == "GET"
            and self._graphiql_html is not None
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        ):
            return HTMLResponse(self._graphiql_html)
        media_type = JSON
        try:
            media_type = response_media_type(request.headers.get("accept"))
            return await self._handle(request, media_type, request_id)
        except RequestError as error:
            return error_response(error, media_type, request_id)
        except PyMongoError as error:  # from admission: authentication, rate limits
            if not is_unavailable(error):
                raise
            log_unavailable(request_id, error)
            return error_response(unavailable(), media_type, request_id)

    async def _handle(self, request: Request, media_type: str, request_id: str) -> Response:
        if request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise RequestError(415, f"Content-Type must be {JSON}")
            body = await read_body(request, self._max_body_bytes)
            params = parse_params(decode_json_body(body))
            allowed = {OperationType.QUERY, OperationType.MUTATION}
        elif request.method == "GET":
            params = parse_get(request)
            allowed = {OperationType.QUERY}
        else:
            raise RequestError(405, "use GET or POST", {"Allow": "GET, POST"})
        if not params.query:
            raise RequestError(400, "'query' is required")

        client = request.client.host if request.client else "-"
        principal = await self.admit(request.headers.get("authorization"), client)
        await self.before_request()
        context = self.context(principal, request_id, request.headers.get("accept-language"))
        try:
            result = await self._schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            raise RequestError(
                405, "only queries may be sent with GET; use POST", {"Allow": "POST"}
            ) from None
        except MissingQueryError:
            raise RequestError(400, "'query' is required") from None

        payload: dict[str, Any] = {}
        errors = result.errors or []
        if is_unavailable_result(errors):  # a resolver's database did not answer
            raise unavailable()
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        # Field errors carry a path; errors without one (syntax, validation, variable
        # coercion) stopped the request before execution, so there is no "data".
        executed = result.data is not None or not errors or any(e.path for e in errors)
        if executed:
            payload["data"] = result.data
        # application/json: 200 for every well-formed request. graphql-response+json:
        # a request that never reached execution is a 400.
        status = 400 if media_type == GRAPHQL_RESPONSE and not executed else 200
        return Response(
            orjson.dumps(payload),
            status_code=status,
            media_type=media_type,
            headers={"X-Request-ID": request_id},
        )


def _over_limit(wait: int) -> RequestError:
    return RequestError(429, f"rate limit exceeded; retry in {wait} s", {"Retry-After": str(wait)})
