"""`guildgraph worker`: a sync worker without the API, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from typing import Any

from service.demo.sources import demo_sources_dir
from service.settings import Settings
from service.storage.client import closing_s, open_storage
from service.sync.fetch_policy import fetcher_factory
from service.sync.worker import Worker


def add_parser(commands: Any) -> None:
    commands.add_parser("worker", help="run a sync worker (no API); stop with SIGTERM")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_work(settings))


async def _work(settings: Settings) -> int:
    """Run syncs until a stop signal, then give the current run back and exit."""
    async with open_storage(settings) as storage:
        worker = Worker(
            storage.db,
            fetcher_factory(settings, extra_file_roots=[demo_sources_dir()]),
            poll_s=settings.worker_poll_s,
            lease_ttl=timedelta(seconds=settings.lease_ttl_s),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        worker.start()
        await stop.wait()
        # One bound from the signal on; its end is kept for closing the database.
        await worker.stop(max(0.5, settings.shutdown_timeout_s - closing_s(settings)))
    return 0
