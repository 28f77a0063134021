"""A malformed HTTP request: answered with a status and a JSON error, never executed."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from service.errors import ServiceError


class RequestError(ServiceError):
    """A malformed request: answered with `status` and a JSON error, never executed."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(error: RequestError, media_type: str, request_id: str) -> Response:
    body = orjson.dumps({"errors": [{"message": error.message}]})
    headers = {"X-Request-ID": request_id, **error.headers}
    return Response(body, status_code=error.status, media_type=media_type, headers=headers)
