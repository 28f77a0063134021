"""The operator's endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import pymongo
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from service.api.lifespan import AppLifespan
from service.api.metrics import Metrics

# /readyz answers within a second whatever the database does (a probe's own timeout
# is often one second): the ping gets this long.
READY_PING_S = 0.5


def operator_routes(lifespan: AppLifespan, metrics: Metrics) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if lifespan.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            with pymongo.timeout(READY_PING_S):
                await lifespan.database().command("ping")
        except (PyMongoError, RuntimeError) as error:
            reason = f"the database did not answer: {str(error)[:200]}"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        behind = lifespan.read_model().not_ready_reason()
        if behind is not None:
            return JSONResponse({"status": "unavailable", "reason": behind}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_text(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_text),
    ]
