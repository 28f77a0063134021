"""A request answered with an HTTP status and a JSON error instead of a GraphQL result."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from service.api.http_caching import NO_STORE
from service.errors import ServiceError


class RequestError(ServiceError):
    """A request answered with `status` and a JSON error: malformed, refused, or not
    answerable now (the data store is unavailable)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code  # extensions.code, for errors a client acts on by kind


def error_response(error: RequestError, media_type: str, request_id: str) -> Response:
    entry: dict[str, object] = {"message": error.message}
    if error.code is not None:
        entry["extensions"] = {"code": error.code}
    body = orjson.dumps({"errors": [entry]})
    # A refusal is about this request: no cache keeps it.
    headers = {"X-Request-ID": request_id, "Cache-Control": NO_STORE, **error.headers}
    return Response(body, status_code=error.status, media_type=media_type, headers=headers)
