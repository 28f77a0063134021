"""`guildgraph runs [SOURCE]`: recent sync runs with their counts, through the admin port."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from schema.admin.runs import RunSelection
from service.cli.operator import admin_port
from service.settings import Settings

# The keys of schema.documents.RunCounts, in the order the tables show them.
CountName = Literal["fetched", "created", "updated", "unchanged", "rejected", "withdrawn"]
COUNT_NAMES: tuple[CountName, ...] = (
    "fetched",
    "created",
    "updated",
    "unchanged",
    "rejected",
    "withdrawn",
)


def add_parser(commands: Any) -> None:
    runs = commands.add_parser("runs", help="recent sync runs with their counts")
    runs.add_argument("source_id", nargs="?", help="only this source's runs")
    runs.add_argument("--limit", type=int, default=20)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_runs(settings, args.source_id, args.limit))


async def _runs(settings: Settings, source_id: str | None, limit: int) -> int:
    selection = RunSelection(sources=(source_id,) if source_id else None)
    async with admin_port(settings) as admin:
        page = await admin.sync_runs(selection, first=limit, after=None, with_total=False)
    table = Table("run", "source", "mode", "status", "started", *COUNT_NAMES)
    for record in page.docs:
        counts = record["counts"]
        table.add_row(
            str(record["_id"]),
            record["source_id"],
            record["mode"],
            record["status"],
            f"{record.get('started_at') or record['created_at']:%Y-%m-%d %H:%M:%S}",
            *(str(counts[name]) for name in COUNT_NAMES),
        )
    Console().print(table)
    return 0
