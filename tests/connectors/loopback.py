"""A loopback HTTP server for connector tests: routes answer with canned bodies.

Each route is a function of the request, so a test can count requests, look at
conditional headers or answer differently the second time.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Response]


@dataclass
class Loopback:
    """The server's base URL and the requests it has seen, per path."""

    base_url: str
    seen: dict[str, list[Request]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path


@asynccontextmanager
async def loopback_server(routes: dict[str, Handler]) -> AsyncIterator[Loopback]:
    """Serve `routes` (path -> handler) on 127.0.0.1 until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server_info = Loopback(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")

    def endpoint(path: str, handler: Handler) -> Callable[[Request], Response]:
        def respond(request: Request) -> Response:
            server_info.seen.setdefault(path, []).append(request)
            return handler(request)

        return respond

    app = Starlette(
        routes=[
            Route(path, endpoint(path, handler), methods=["GET", "POST"])
            for path, handler in routes.items()
        ]
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    # startup() returns once the socket listens: no polling for readiness.
    await server.startup(sockets=[sock])
    try:
        yield server_info
    finally:
        await server.shutdown(sockets=[sock])
        sock.close()


def static(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    """A route that always answers the same."""

    def handler(request: Request) -> Response:
        return Response(body, status_code=status, headers=headers)

    return handler


def conditional(body: bytes, etag: str, content_type: str) -> Callable[[Request], Response]:
    """A route serving `body` that answers 304 to a request carrying its ETag."""

    def handler(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag, "Content-Type": content_type})

    return handler
