"""A GraphQL request read from a POST body or a GET query string, with its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Scope

from service.api.http_errors import RequestError


@dataclass(frozen=True)
class GraphQLRequest:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None = None  # `persistedQuery` (APQ) is read from it


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
        extensions=_object(params.get("extensions"), "extensions"),
    )


def header_values(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one, decoded
    once. Starlette's `Headers` finds each name by a scan that encodes it: the nine a
    GraphQL request looks at took a third of the CPU of an answer from the cache."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def read_body(request: Request, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body exceeds {limit} bytes")
    # The ASGI messages themselves: most bodies are one message, and Starlette's
    # stream() costs an async generator per request.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client closed the connection before its body arrived")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_json_body(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not valid UTF-8") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RequestError(400, "request body is not valid JSON") from None


def _json_param(request: Request, name: str) -> dict[str, Any] | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"'{name}' is not valid JSON") from None
    return _object(value, name)


def parse_get(request: Request) -> GraphQLRequest:
    """The parameters of a GET: `query` (or, with APQ, only the hash in `extensions`),
    `variables` and `extensions` as JSON, `operationName`."""
    return GraphQLRequest(
        query=request.query_params.get("query"),
        variables=_json_param(request, "variables"),
        operation_name=request.query_params.get("operationName"),
        extensions=_json_param(request, "extensions"),
    )
