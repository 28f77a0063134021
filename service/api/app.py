"""The app factory: `create_app(settings)` builds everything; the lifespan owns resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from schema.root import SchemaLimits, build_schema
from service.api.graphql_http import GraphQLEndpoint
from service.api.metrics import Metrics
from service.api.request_context import Services
from service.api.websocket import WebSocketGraphQL
from service.settings import Settings
from service.storage.client import Storage, open_storage
from service.storage.collections import Database
from service.sync.fetch_policy import fetcher_factory
from service.sync.worker import Worker, WorkerHandle

logger = logging.getLogger("guildgraph")


StartupHook = Callable[[Database], Awaitable[None]]


def create_app(
    settings: Settings,
    *,
    on_startup: Sequence[StartupHook] = (),
    extra_file_roots: Sequence[Path] = (),
    metrics: Metrics | None = None,
) -> Starlette:
    """Build the ASGI app.

    `on_startup` hooks run once the database is ready, before the first request (the
    CLI loads the demo this way); `extra_file_roots` are directories the sync worker
    may read besides the configured ones; `metrics` may be shared with a caller that
    wants the counts.
    """
    metrics = metrics or Metrics()
    schema = build_schema(
        SchemaLimits(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            introspection=settings.introspection_enabled,
            field_suggestions=settings.env.value == "dev",
        )
    )
    storage: Storage | None = None

    def database() -> Database:
        if storage is None:
            raise RuntimeError("the database is not open (outside the app lifespan)")
        return storage.db

    handle = WorkerHandle()
    services = Services(database=database, settings=settings, worker=handle)
    endpoint = GraphQLEndpoint(schema, services, metrics=metrics)
    websocket = WebSocketGraphQL(endpoint, schema=schema, graphql_ide=None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal storage
        async with open_storage(settings, event_listeners=[metrics]) as opened:
            storage = opened
            for hook in on_startup:
                await hook(opened.db)
            worker = None
            if settings.worker_enabled:
                worker = Worker(
                    opened.db,
                    fetcher_factory(settings, extra_file_roots),
                    handle=handle,
                    poll_s=settings.worker_poll_s,
                    lease_ttl=timedelta(seconds=settings.lease_ttl_s),
                )
                worker.start()
            bound = settings.shutdown_timeout_s
            app.state.begin_shutdown = lambda: _begin_shutdown(app, worker, bound)
            logger.info("guildgraph ready on database %r", settings.database)
            try:
                yield
            finally:
                _begin_shutdown(app, worker, bound)
                # One bound from the stop signal on: draining requests used part of it.
                left = max(0.5, app.state.shutdown_deadline - time.monotonic())
                stopping = [websocket.close_all()]
                if worker is not None:
                    stopping.append(worker.stop(left))
                await asyncio.gather(*stopping)
                storage = None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if getattr(request.app.state, "draining", False):
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            await database().command("ping")
        except Exception as error:
            return JSONResponse({"status": "unavailable", "reason": str(error)}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_text(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def graphql_ws(ws: WebSocket) -> None:
        await websocket(ws.scope, ws.receive, ws.send)

    return Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_text),
        ],
        lifespan=lifespan,
    )


def _begin_shutdown(app: Starlette, worker: Worker | None, bound_s: float) -> None:
    """At the stop signal: report not ready, and let the worker take no new run."""
    if not getattr(app.state, "draining", False):
        app.state.shutdown_deadline = time.monotonic() + bound_s
    app.state.draining = True
    if worker is not None:
        worker.stopping.set()
        worker.handle.notify()
