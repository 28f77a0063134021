"""The outermost layer of every HTTP response: its request id, `nosniff`, and a JSON
error with the request id when an exception escaped everything else (never a bare 500).
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.http_errors import RequestError, error_response
from service.api.negotiation import JSON
from service.api.unavailable import is_unavailable, log_unavailable, unavailable

logger = logging.getLogger("guildgraph.errors")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_for(header: str | None) -> str:
    """The client's `X-Request-ID` when it is a sane token, else a new one."""
    return header if header and _REQUEST_ID.match(header) else uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """The id `SafetyNet` gave this request (a new one outside it)."""
    state = scope.get("state") or {}
    given = state.get("request_id")
    return given if isinstance(given, str) else request_id_for(None)


class SafetyNet:
    """Gives each HTTP request an id (kept in `scope["state"]`), adds `X-Request-ID`
    and `X-Content-Type-Options: nosniff` to every response, and answers an exception
    no route handled: 503 when the database did not answer, else 500, both JSON and
    logged once here (uvicorn does not see them again).

    With `served_by`, every response also says which process answered it
    (`X-Served-By`), for tests and debugging of a host's several API processes.
    """

    def __init__(self, app: ASGIApp, served_by: str | None = None) -> None:
        self.app = app
        self.served_by = served_by

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(Headers(scope=scope).get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-request-id", request_id)
                if self.served_by is not None:
                    headers["x-served-by"] = self.served_by
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:  # the last resort: whatever escaped every route
            if started:
                raise  # part of the response is out; only closing the connection is left
            if is_unavailable(error):
                log_unavailable(request_id, error)
                refusal = unavailable()
            else:
                logger.error(
                    "unexpected error in request %s (%s %s)",
                    request_id,
                    scope.get("method"),
                    scope.get("path"),
                    exc_info=error,
                )
                refusal = RequestError(500, "Internal server error", code="INTERNAL_SERVER_ERROR")
            response = error_response(refusal, JSON, request_id)
            await response(scope, receive, send_with_headers)
