"""`guildgraph sync SOURCE [--full]`: one run of a source now, in this process, with progress.

It reads the same settings as the server (`Settings`, from the environment), so a
source that needs one (GUILDGRAPH_FETCH_ALLOWED_NETWORKS, GUILDGRAPH_FETCH_FILE_ROOTS)
syncs here as it does in the server's workers; an error that comes from such a
setting names it. The summary fits an 80-column terminal.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from connectors.net.fetcher import SafeFetcher
from schema.documents import RunDoc
from service.cli.operator import errors
from service.cli.runs import status_word
from service.demo.sources import demo_sources_dir
from service.settings import Settings
from service.storage.client import open_storage
from service.sync.engine import run_sync
from service.sync.fetch_policy import fetch_policy
from service.sync.progress import Progress as RunProgress
from service.sync.runs import Mode, RunStatus
from service.sync.sources import SourceError

# What the summary calls each count, in its order.
_SUMMARY = (
    ("fetched", "read"),
    ("created", "created"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("rejected", "rejected"),
    ("withdrawn", "withdrawn"),
)
_ERRORS_SHOWN = 10
_SKIPPED_SHOWN = 3


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
            TextColumn("{task.fields[rejected]} rejected"),
            TimeElapsedColumn(),
            console=errors,
        ) as bar:
            task = bar.add_task(source_id, records=0, rate=0.0, pages=0, rejected=0)

            def watch(progress: RunProgress) -> None:
                bar.update(
                    task,
                    records=progress.counts.fetched,
                    rate=progress.records_per_s,
                    pages=progress.pages,
                    rejected=progress.counts.rejected,
                )

            record = await run_sync(storage.db, source_id, fetcher, mode=mode, watch=watch)
    summary(record, Console(soft_wrap=True))
    return 0 if record["status"] in (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED) else 1


def summary(record: RunDoc, out: Console) -> None:
    """What the run did, in a few lines of at most 80 columns (errors may run longer)."""
    counts, progress = record["counts"], record.get("progress") or {}
    pages, size = progress.get("pages", 0), progress.get("bytes", 0)
    took = ""
    if record.get("started_at") and record.get("finished_at"):
        took = f", {(record['finished_at'] - record['started_at']).total_seconds():.1f} s"
    out.print(
        f"{record['source_id']}: {status_word(record['status'])} ({record['mode']} run{took}; "
        f"{pages} {'page' if pages == 1 else 'pages'}, {_size(size)})",
        markup=False,
        highlight=False,
    )
    out.print("  " + "  ".join(f"{label} {counts.get(name) or 0}" for name, label in _SUMMARY))
    extra = {"warnings": counts.get("warnings") or 0, "skipped": counts.get("skipped") or 0}
    if any(extra.values()):
        out.print("  " + "  ".join(f"{name} {value}" for name, value in extra.items() if value))
    if record.get("note"):
        out.print(f"  note: {record['note']}", markup=False, highlight=False)
    for error in record.get("errors", [])[:_ERRORS_SHOWN]:
        out.print(f"  ! {error['where']}: {error['message']}", markup=False, highlight=False)
    for passed in (record.get("skipped") or [])[:_SKIPPED_SHOWN]:
        out.print(f"  - skipped {passed['message']}", markup=False, highlight=False)
    if extra["warnings"]:
        out.print(
            f"  values left out of kept listings: guildgraph sources warnings "
            f"{record['source_id']}",
            markup=False,
            highlight=False,
        )


def _size(count: float) -> str:
    for unit in ("bytes", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"  # pragma: no cover - the loop returns
