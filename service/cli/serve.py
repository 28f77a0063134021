"""`guildgraph serve`: the GraphQL API (with a sync worker unless turned off)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from service.api.app import create_app
from service.demo.dataset import load_demo_if_empty
from service.demo.sources import demo_sources_dir, sync_demo_sources
from service.settings import Settings
from service.storage.collections import Database

logger = logging.getLogger("guildgraph")


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the GraphQL API")
    serve.add_argument("--host", help="bind address (default: GUILDGRAPH_HOST)")
    serve.add_argument("--port", type=int, help="port (default: GUILDGRAPH_PORT)")
    serve.add_argument(
        "--load-demo-if-empty",
        action="store_true",
        help="load the demo dataset when the database has no communities",
    )


async def load_demo(db: Database) -> None:
    """The demo dataset (when the database is empty) and the bundled demo sources."""
    await load_demo_if_empty(db)
    for run in await sync_demo_sources(db):
        logger.info("demo source %s: %s %s", run["source_id"], run["status"], run["counts"])


class _GracefulServer(uvicorn.Server):
    """Tells the app at the stop signal, so its worker stops claiming runs while
    uvicorn drains the requests in flight (bounded by `timeout_graceful_shutdown`)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def run(args: argparse.Namespace, settings: Settings) -> int:
    app = create_app(
        settings,
        on_startup=[load_demo] if args.load_demo_if_empty else [],
        # The bundled demo files stay readable, so the demo sources can be synced
        # again from the admin API like any other source.
        extra_file_roots=[demo_sources_dir()],
    )

    def begin_shutdown() -> None:
        hook = getattr(app.state, "begin_shutdown", None)
        if hook is not None:
            hook()

    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        loop="uvloop",
        http="httptools",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) or 1,
    )
    # uvicorn re-raises the stop signal once shut down; Ctrl-C then ends here (as
    # uvicorn.run does), SIGTERM with the signal's own exit status.
    with contextlib.suppress(KeyboardInterrupt):
        _GracefulServer(config, begin_shutdown).run()
    return 0
