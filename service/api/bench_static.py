"""A plain Starlette endpoint for `make bench` to compare cached answers with: it
serves the bytes of `GUILDGRAPH_BENCH_STATIC_FILE` as JSON. Without that setting (as
in production) there is no such route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.settings import Settings


def bench_routes(settings: Settings) -> list[Route]:
    path = settings.bench_static_file
    if path is None:
        return []
    # Read at the first request (the bench writes the file once the server answers: it
    # holds one of its answers), then kept in memory.
    body: list[bytes] = []

    async def static_bytes(request: Request) -> Response:
        if not body:
            body.append(path.read_bytes())
        return Response(body[0], media_type="application/json")

    return [Route("/bench/static", static_bytes, methods=["GET"])]
