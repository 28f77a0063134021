"""The app factory: `create_app(settings)` builds everything; the lifespan owns resources."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from schema.cost import CostBudgets
from schema.root import SchemaLimits, build_schema
from service.api.bench_static import bench_routes
from service.api.graphql_http import GraphQLEndpoint
from service.api.lifespan import AppLifespan, StartupHook
from service.api.metrics import Metrics
from service.api.operations import operator_routes
from service.api.request_context import Services
from service.api.safety_net import SafetyNet
from service.api.unavailable import DatabaseBound
from service.api.websocket import WebSocketGraphQL
from service.settings import Settings


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
            cost_budgets=CostBudgets(
                anonymous=settings.cost_limit_anonymous,
                partner=settings.cost_limit_partner,
                admin=settings.cost_limit_admin,
            ),
        ),
        runtime=[lambda: DatabaseBound(settings.db_timeout_s)],
    )
    lifespan = AppLifespan(
        settings, metrics, on_startup=on_startup, extra_file_roots=extra_file_roots
    )
    services = Services(
        database=lifespan.database,
        read_model=lifespan.read_model,
        settings=settings,
        worker=lifespan.worker_handle,
    )
    endpoint = GraphQLEndpoint(schema, services, metrics=metrics)
    lifespan.run_in_background(endpoint)
    websocket = WebSocketGraphQL(endpoint, schema=schema, graphql_ide=None)
    lifespan.serve_websockets(websocket)

    async def graphql_ws(ws: WebSocket) -> None:
        await websocket(ws.scope, ws.receive, ws.send)

    return Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            *operator_routes(lifespan, metrics),
            *bench_routes(settings),
        ],
        middleware=[Middleware(SafetyNet, served_by=_served_by(settings))],
        lifespan=lifespan,
    )


def _served_by(settings: Settings) -> str | None:
    """This process's name for `X-Served-By`, when the settings ask for the header."""
    return f"{socket.gethostname()}:{os.getpid()}" if settings.served_by_header else None
