"""`guildgraph sources ...` and `guildgraph sync SOURCE [--full]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.net.fetcher import SafeFetcher
from service.settings import Settings
from service.storage.client import open_storage
from service.sync.engine import Progress as RunProgress
from service.sync.engine import run_sync
from service.sync.fetch_policy import fetch_policy
from service.sync.runs import Mode, RunStatus, recent_runs
from service.sync.sources import (
    SourceError,
    SourceSpec,
    add_source,
    get_source,
    list_sources,
    set_enabled,
)

console = Console(stderr=True)


def add_commands(commands: Any) -> None:
    sources = commands.add_parser("sources", help="register and inspect sources")
    actions = sources.add_subparsers(dest="sources_command", required=True)
    add = actions.add_parser("add", help="register a source from a JSON file")
    add.add_argument("file", type=Path, help="id, name, family, kind, config, schedule, ...")
    actions.add_parser("list", help="every source with its last run")
    for name, text in (("show", "one source"), ("disable", "stop syncing a source")):
        actions.add_parser(name, help=text).add_argument("source_id")
    runs = commands.add_parser("runs", help="recent sync runs with their counts")
    runs.add_argument("source_id", nargs="?", help="only this source's runs")
    runs.add_argument("--limit", type=int, default=20)
    sync = commands.add_parser("sync", help="run one sync of a source now")
    sync.add_argument("source_id")
    sync.add_argument("--full", action="store_true", help="full refresh (withdraws what is gone)")


async def run_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.command == "sync":
            return await _sync(
                settings, args.source_id, Mode.FULL if args.full else Mode.INCREMENTAL
            )
        if args.command == "runs":
            return await _runs(settings, args.source_id, args.limit)
        return await _sources(settings, args)
    except SourceError as error:
        console.print(f"[red]error:[/red] {error}")
        return 2


async def _sources(settings: Settings, args: argparse.Namespace) -> int:
    if args.sources_command == "add":
        try:
            spec = SourceSpec.model_validate(json.loads(args.file.read_text(encoding="utf-8")))
        except (ValidationError, json.JSONDecodeError, OSError) as error:
            console.print(f"[red]invalid source {args.file}:[/red]\n{error}")
            return 2
    async with open_storage(settings) as storage:
        if args.sources_command == "add":
            await add_source(storage.db, spec)
            console.print(f"registered [bold]{spec.id}[/bold] ({spec.kind})")
        elif args.sources_command == "list":
            table = Table("id", "name", "family", "kind", "enabled", "schedule")
            for source in await list_sources(storage.db):
                table.add_row(
                    source["_id"],
                    source["name"],
                    source["family"],
                    source["kind"],
                    "yes" if source["enabled"] else "no",
                    source.get("schedule") or "-",
                )
            Console().print(table)
        elif args.sources_command == "show":
            source = await get_source(storage.db, args.source_id)
            Console().print_json(json.dumps(source, default=str, ensure_ascii=False))
        else:
            await set_enabled(storage.db, args.source_id, False)
            console.print(f"disabled [bold]{args.source_id}[/bold]")
    return 0


async def _sync(settings: Settings, source_id: str, mode: Mode) -> int:
    async with open_storage(settings) as storage, SafeFetcher(fetch_policy(settings)) as fetcher:
        with Progress(
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[records]} records"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TextColumn("{task.fields[pages]} pages"),
            TextColumn("{task.fields[checkpoints]} checkpoints"),
            TextColumn("{task.fields[rejected]} rejected"),
            TimeElapsedColumn(),
            console=console,
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

            run = await run_sync(storage.db, source_id, fetcher, mode=mode, watch=watch)
    _summary(run)
    return 0 if run["status"] in (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED) else 1


async def _runs(settings: Settings, source_id: str | None, limit: int) -> int:
    async with open_storage(settings) as storage:
        runs = await recent_runs(storage.db, source_id, limit)
    table = Table("run", "source", "mode", "status", "started", "fetched", "created",
                  "updated", "unchanged", "rejected", "withdrawn")  # fmt: skip
    for run in runs:
        counts = run["counts"]
        table.add_row(
            str(run["_id"]),
            run["source_id"],
            run["mode"],
            run["status"],
            f"{run.get('started_at', run['created_at']):%Y-%m-%d %H:%M:%S}",
            *(str(counts[name]) for name in COUNT_NAMES),
        )
    Console().print(table)
    return 0


COUNT_NAMES = ("fetched", "created", "updated", "unchanged", "rejected", "withdrawn")


def _summary(run: dict[str, Any]) -> None:
    table = Table(title=f"{run['source_id']}: {run['status']} ({run['mode']})")
    for name in (*COUNT_NAMES, "pages", "bytes"):
        table.add_column(name, justify="right")
    counts, progress = run["counts"], run.get("progress") or {}
    table.add_row(
        *(str(counts[name]) for name in COUNT_NAMES),
        str(progress.get("pages", 0)),
        str(progress.get("bytes", 0)),
    )
    Console().print(table)
    for error in run.get("errors", [])[:10]:
        console.print(f"  [yellow]{error['where']}[/yellow]: {error['message']}")
