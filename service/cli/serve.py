"""`guildgraph serve`: the GraphQL API (with a sync worker unless turned off).

One process serves when GUILDGRAPH_WORKERS is 1; with more, this process supervises
that many API processes on the one port (service.cli.supervisor), each of them this
command again, started with the hidden `--api-process` and `--ready-fd`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from service.api.app import create_app
from service.api.gc_tuning import tune_for_serving
from service.api.lifespan import StartupHook
from service.cli import shared_port, supervisor
from service.demo.dataset import load_demo_if_empty
from service.demo.sources import demo_sources_dir, sync_demo_sources
from service.settings import Settings
from service.storage.client import closing_s
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
    # Given by the supervisor to each API process it starts: the process's number, and
    # the pipe on which it says it is listening.
    serve.add_argument("--api-process", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)


async def load_demo(db: Database) -> None:
    """The demo dataset (when the database is empty) and the bundled demo sources."""
    await load_demo_if_empty(db)
    for run in await sync_demo_sources(db):
        logger.info("demo source %s: %s %s", run["source_id"], run["status"], run["counts"])


class _GracefulServer(uvicorn.Server):
    """Tells the app at the stop signal, so /readyz says 503 and its worker stops
    claiming runs; then uvicorn drains the requests in flight (bounded by
    `timeout_graceful_shutdown`).

    After SIGTERM the listener stays open for `drain_s` first: requests are still
    served while load balancers see the 503 and stop sending. A second signal ends
    the drain period at once; SIGINT (Ctrl-C) skips it.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_exit: Callable[[], None],
        drain_s: float,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._on_started = on_started
        self._drain_s = drain_s
        self._drain_until: float | None = None
        self._drain_signal = signal.SIGTERM
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        first = self._drain_until is None and not self.should_exit
        if first and sig == signal.SIGTERM and self._drain_s > 0:
            # Only a flag here (a signal handler); on_tick does the rest.
            self._drain_until = time.monotonic() + self._drain_s
            self._drain_signal = signal.Signals(sig)
            return
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()  # listening now

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and not self.should_exit:
            if not self._drain_logged:
                self._drain_logged = True
                logger.info(
                    "stop signal: draining for %.1f s (readyz 503) before closing the listener",
                    self._drain_s,
                )
            if time.monotonic() >= self._drain_until:
                logger.info("drain period over: closing the listener")
                # As if the signal came now: uvicorn shuts down and re-raises it at exit.
                super().handle_exit(self._drain_signal, None)
        return await super().on_tick(counter)


def run(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if args.ready_fd is not None:
        return _serve_api_process(args.api_process, args.ready_fd, settings, host, port)
    startup = [load_demo] if args.load_demo_if_empty else []
    if settings.workers > 1:
        # The app is built here only for the errors one process would report (a
        # configuration that cannot work) before anything starts.
        build_app(settings)
        return supervisor.run(settings, host, port, startup=startup)
    return _serve(build_app(settings, startup), settings, host, port)


def build_app(settings: Settings, on_startup: Sequence[StartupHook] = ()) -> Starlette:
    return create_app(
        settings,
        on_startup=on_startup,
        # The bundled demo files stay readable, so the demo sources can be synced
        # again from the admin API like any other source.
        extra_file_roots=[demo_sources_dir()],
    )


def _serve_api_process(index: int, ready_fd: int, settings: Settings, host: str, port: int) -> int:
    """One of the host's API processes, started by the supervisor: its own socket on the
    shared port, and a word on `ready_fd` once it listens."""
    sock = shared_port.bind_shared(host, port)

    def started() -> None:
        # uvicorn names its address only for a socket it binds itself.
        shown = f"[{host}]" if ":" in host else host
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d (API process %d, pid %d)",
            shown,
            port,
            index,
            os.getpid(),
        )
        with contextlib.suppress(OSError):  # a supervisor that is gone reads nothing
            os.write(ready_fd, b"\n")
        os.close(ready_fd)

    return _serve(build_app(settings), settings, host, port, sockets=[sock], on_started=started)


def _serve(
    app: Starlette,
    settings: Settings,
    host: str,
    port: int,
    *,
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    tune_for_serving()  # the app and everything it imported are built: freeze them

    def begin_shutdown() -> None:
        hook = getattr(app.state, "begin_shutdown", None)
        if hook is not None:
            hook()

    drain_s = settings.drain_period_s
    # One bound from the stop signal on: the drain period is part of it, and its end
    # is kept for closing the database.
    graceful_s = settings.shutdown_timeout_s - drain_s - closing_s(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=max(1, int(graceful_s)),
        # X-Forwarded-For names the client only when a trusted proxy sent it (uvicorn
        # would otherwise trust 127.0.0.1, and any local caller could pick its address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    # uvicorn re-raises the stop signal once shut down; Ctrl-C then ends here (as
    # uvicorn.run does), SIGTERM with the signal's own exit status.
    with contextlib.suppress(KeyboardInterrupt):
        _GracefulServer(config, begin_shutdown, drain_s, on_started).run(sockets=sockets)
    return 0
