"""GraphQL over HTTP (POST and GET), following the GraphQL-over-HTTP specification.

Strawberry's own view decodes bodies inside its JSON handling (invalid UTF-8
becomes a 500) and has no size limit, so requests are parsed here and only
well-formed ones reach `schema.execute`.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from schema.context import Context, Principal
from schema.taxonomy import Lang
from service.api.metrics import Metrics
from service.api.request_context import Services
from service.auth.keys import Unauthenticated, authenticate, key_secret
from service.auth.rate_limits import Limits, RateLimiter

logger = logging.getLogger("guildgraph.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestError(Exception):
    """A malformed request: answered with `status` and a JSON error, never executed."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class GraphQLRequest:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None


def preferred_language(header: str | None, default: Lang) -> Lang:
    """The best of ru/en by the Accept-Language q-values."""
    best: tuple[float, Lang] | None = None
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("ru", "en"):
            continue
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        if best is None or quality > best[0]:
            best = (quality, Lang(primary))
    return best[1] if best else default


def response_media_type(accept: str | None) -> str:
    """Pick the response type from Accept; 406 when neither JSON type is acceptable."""
    if not accept:
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            quality = float(match.group(1)) if match.group(1).count(".") <= 1 else 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            ranked.append((quality, -position, GRAPHQL_RESPONSE))
        elif media in (JSON, "application/*", "*/*"):
            ranked.append((quality, -position, JSON))
    if not ranked:
        raise RequestError(406, f"Accept must allow {GRAPHQL_RESPONSE} or {JSON}")
    return max(ranked)[2]


def _object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RequestError(400, f"'{name}' must be a JSON object")
    return value


def _string(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(400, f"'{name}' must be a string")
    return value


def parse_params(params: Any) -> GraphQLRequest:
    if not isinstance(params, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return GraphQLRequest(
        query=_string(params.get("query"), "query"),
        variables=_object(params.get("variables"), "variables"),
        operation_name=_string(params.get("operationName"), "operationName"),
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json_body(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not valid UTF-8") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RequestError(400, "request body is not valid JSON") from None


def parse_get(request: Request) -> GraphQLRequest:
    variables: Any = None
    raw_variables = request.query_params.get("variables")
    if raw_variables:
        try:
            variables = orjson.loads(raw_variables)
        except orjson.JSONDecodeError:
            raise RequestError(400, "'variables' is not valid JSON") from None
    return GraphQLRequest(
        query=request.query_params.get("query"),
        variables=_object(variables, "variables"),
        operation_name=request.query_params.get("operationName"),
    )


def _error_response(error: RequestError, media_type: str, request_id: str) -> Response:
    body = orjson.dumps({"errors": [{"message": error.message}]})
    headers = {"X-Request-ID": request_id, **error.headers}
    return Response(body, status_code=error.status, media_type=media_type, headers=headers)


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

    def context(
        self, principal: Principal, request_id: str, accept_language: str | None
    ) -> Context:
        lang = preferred_language(accept_language, self._default_lang)
        return self._services.context(principal, request_id, lang)

    async def admit(self, authorization: str | None, client: str) -> Principal:
        """The caller behind the headers, counted against its rate limits.

        Raises RequestError 401 for a bad key and 429 (with Retry-After) over a limit.
        """
        db = self._services.database()
        try:
            principal = await authenticate(db, self._secret, authorization, client)
        except Unauthenticated as error:
            raise RequestError(401, str(error), {"WWW-Authenticate": "Bearer"}) from None
        wait = await self.retry_after(principal)
        if wait is not None:
            raise RequestError(
                429, f"rate limit exceeded; retry in {wait} s", {"Retry-After": str(wait)}
            )
        return principal

    async def retry_after(self, principal: Principal) -> int | None:
        """Count one request of `principal`; seconds to wait when over a limit, else None.

        HTTP requests, WebSocket connections and each operation sent over a WebSocket
        all count, so a socket is no way around the limits.
        """
        limiter = RateLimiter(self._services.database(), self._limits)
        return await limiter.retry_after(principal) if limiter.enabled else None

    async def handle(self, request: Request) -> Response:
        response = await self._respond(request)
        self._metrics.request_done(response.status_code)
        return response

    async def _respond(self, request: Request) -> Response:
        header_id = request.headers.get("x-request-id", "")
        request_id = header_id if _REQUEST_ID.match(header_id) else uuid.uuid4().hex
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
            return _error_response(error, media_type, request_id)

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
