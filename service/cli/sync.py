"""`guildgraph sync SOURCE [--full]`: one run of a source now, in this process, with progress."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.net.fetcher import SafeFetcher
from schema.documents import RunDoc
from service.cli.operator import errors
from service.cli.runs import COUNT_NAMES
from service.demo.sources import demo_sources_dir
from service.settings import Settings
from service.storage.client import open_storage
from service.sync.engine import run_sync
from service.sync.fetch_policy import fetch_policy
from service.sync.progress import Progress as RunProgress
from service.sync.runs import Mode, RunStatus
from service.sync.sources import SourceError


def add_parser(commands: Any) -> None:
    sync = commands.add_parser("sync", help="run one sync of a source now")
    sync.add_argument("source_id")
    sync.add_argument("--full", action="store_true", help="full refresh (withdraws what is gone)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    mode = Mode.FULL if args.full else Mode.INCREMENTAL
    try:
        return asyncio.run(_sync(settings, args.source_id, mode))
    except SourceError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        return 2


async def _sync(settings: Settings, source_id: str, mode: Mode) -> int:
    # The same fetch policy as the server's workers, demo files included.
    policy = fetch_policy(settings, extra_file_roots=[demo_sources_dir()])
    async with open_storage(settings) as storage, SafeFetcher(policy) as fetcher:
        with Progress(
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[records]} records"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TextColumn("{task.fields[pages]} pages"),
            TextColumn("{task.fields[checkpoints]} checkpoints"),
            TextColumn("{task.fields[rejected]} rejected"),
            TimeElapsedColumn(),
            console=errors,
        ) as bar:
            task = bar.add_task(source_id, records=0, rate=0.0, pages=0, checkpoints=0, rejected=0)

            def watch(progress: RunProgress) -> None:
                bar.update(
                    task,
                    records=progress.counts.fetched,
                    rate=progress.records_per_s,
                    pages=progress.pages,
                    checkpoints=progress.checkpoints,
                    rejected=progress.counts.rejected,
                )

            record = await run_sync(storage.db, source_id, fetcher, mode=mode, watch=watch)
    _summary(record)
    return 0 if record["status"] in (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED) else 1


def _summary(record: RunDoc) -> None:
    table = Table(title=f"{record['source_id']}: {record['status']} ({record['mode']})")
    for name in (*COUNT_NAMES, "pages", "bytes"):
        table.add_column(name, justify="right")
    counts, progress = record["counts"], record.get("progress") or {}
    table.add_row(
        *(str(counts[name]) for name in COUNT_NAMES),
        str(progress.get("pages", 0)),
        str(progress.get("bytes", 0)),
    )
    Console().print(table)
    for error in record.get("errors", [])[:10]:
        errors.print(f"  [yellow]{error['where']}[/yellow]: {error['message']}")
