"""What an API process holds from start to stop: the database, startup work, the worker,
and the orderly shutdown that the stop signal begins."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette

from service.api.metrics import Metrics
from service.api.websocket import WebSocketGraphQL
from service.read_model.runtime import ReadModel, read_model_path
from service.settings import Settings
from service.storage.client import Storage, closing_s, open_storage
from service.storage.collections import Database
from service.sync.fetch_policy import fetcher_factory
from service.sync.worker import Worker, WorkerHandle

logger = logging.getLogger("guildgraph")

StartupHook = Callable[[Database], Awaitable[None]]


class Background(Protocol):
    """Work a process does beside its requests, from start to stop."""

    async def run(self) -> None:
        """Work until cancelled."""

    async def close(self) -> None:
        """After `run` is cancelled: finish up (within the shutdown bound)."""


class AppLifespan:
    """Opens the database and starts the worker; stops both within the shutdown bound."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        on_startup: Sequence[StartupHook],
        extra_file_roots: Sequence[Path],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.worker_handle = WorkerHandle()
        self._on_startup = on_startup
        self._extra_file_roots = extra_file_roots
        self._storage: Storage | None = None
        self._worker: Worker | None = None
        self._read_model: ReadModel | None = None
        self._websocket: WebSocketGraphQL | None = None
        self._background: list[Background] = []
        self._background_tasks: list[asyncio.Task[None]] = []
        self.draining = False
        self._deadline = 0.0

    def database(self) -> Database:
        if self._storage is None:
            raise RuntimeError("the database is not open (outside the app lifespan)")
        return self._storage.db

    def read_model(self) -> ReadModel:
        if self._read_model is None:
            raise RuntimeError("the read model is not open (outside the app lifespan)")
        return self._read_model

    def serve_websockets(self, websocket: WebSocketGraphQL) -> None:
        """The WebSocket endpoint whose connections are closed at shutdown."""
        self._websocket = websocket

    def run_in_background(self, work: Background) -> None:
        """Started once the database and the read model are open; stopped at shutdown."""
        self._background.append(work)

    @contextlib.asynccontextmanager
    async def __call__(self, app: Starlette) -> AsyncIterator[None]:
        settings = self.settings
        async with open_storage(settings, event_listeners=[self.metrics]) as opened:
            self._storage = opened
            self._read_model = ReadModel(
                opened.db,
                read_model_path(settings.data_dir, settings.database),
                barrier_timeout_s=settings.read_your_writes_timeout_s,
            )
            self._read_model.start()
            self._background_tasks = [
                asyncio.create_task(work.run(), name=type(work).__name__)
                for work in self._background
            ]
            for task in self._background_tasks:
                task.add_done_callback(_log_failure)
            for hook in self._on_startup:
                await hook(opened.db)
            if settings.worker_enabled:
                self._worker = Worker(
                    opened.db,
                    fetcher_factory(settings, self._extra_file_roots),
                    handle=self.worker_handle,
                    poll_s=settings.worker_poll_s,
                    lease_ttl=timedelta(seconds=settings.lease_ttl_s),
                    barrier=self._read_model.barrier,
                )
                self._worker.start()
            app.state.begin_shutdown = self.begin_shutdown
            logger.info("guildgraph ready on database %r", settings.database)
            try:
                yield
            finally:
                await self._stop()
                self._storage = None

    def begin_shutdown(self) -> None:
        """At the stop signal: report not ready, and let the worker take no new run."""
        if not self.draining:
            self._deadline = time.monotonic() + self.settings.shutdown_timeout_s
        self.draining = True
        if self._worker is not None:
            self._worker.stopping.set()
            self._worker.handle.notify()

    async def _stop(self) -> None:
        self.begin_shutdown()
        # One bound from the stop signal on: draining requests used part of it, and
        # its end is kept for closing the database (when open_storage exits).
        left = max(0.5, self._deadline - time.monotonic() - closing_s(self.settings))
        stopping: list[Awaitable[None]] = []
        if self._websocket is not None:
            stopping.append(_within(left, "closing the websockets", self._websocket.close_all()))
        if self._worker is not None:
            stopping.append(self._worker.stop(left))
        await asyncio.gather(*stopping)
        for task in self._background_tasks:
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        for work in self._background:
            left = max(0.5, self._deadline - time.monotonic() - closing_s(self.settings))
            await _within(left, f"stopping {type(work).__name__}", work.close())
        if self._read_model is not None:
            # Cancelling the applier takes a moment; whatever of the bound is left.
            left = max(0.5, self._deadline - time.monotonic() - closing_s(self.settings))
            await _within(left, "stopping the read model", self._read_model.stop())


async def _within(seconds: float, what: str, step: Awaitable[None]) -> None:
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        logger.warning("shutdown: %s took more than %.1f s; left unfinished", what, seconds)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())
