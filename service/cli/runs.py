"""`guildgraph runs [SOURCE]`: recent sync runs with their counts, through the admin port.

One run per line, readable in an 80-column terminal: the start in UTC, the source,
the mode and status, then the counts under short headings (`COUNT_HEADINGS`);
`--ids` shows the run ids (`syncRun(id)` in the admin API) in place of the counts.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table

from schema.admin.runs import RunSelection
from schema.documents import RunCounts, RunDoc
from service.cli.operator import admin_port
from service.settings import Settings

# The keys of schema.documents.RunCounts, in the order the tables show them.
CountName = Literal[
    "fetched", "created", "updated", "unchanged", "rejected", "withdrawn", "warnings"
]
COUNT_NAMES: tuple[CountName, ...] = (
    "fetched",
    "created",
    "updated",
    "unchanged",
    "rejected",
    "withdrawn",
    "warnings",
)
# Headings narrow enough for one run per line in 80 columns (README "Sources and syncs").
COUNT_HEADINGS: dict[CountName, str] = {
    "fetched": "read",
    "created": "new",
    "updated": "upd",
    "unchanged": "same",
    "rejected": "rej",
    "withdrawn": "gone",
    "warnings": "warn",
}
_STATUS = {"partially_succeeded": "partial"}
_MODE = {"incremental": "incr"}


def add_parser(commands: Any) -> None:
    runs = commands.add_parser(
        "runs",
        help="recent sync runs with their counts",
        description="Recent sync runs, newest first. Counts: read (records fetched), new, "
        "upd(ated), same (unchanged), rej(ected), gone (withdrawn), warn(ings: values "
        "kept listings were stored without). Times in UTC.",
    )
    runs.add_argument("source_id", nargs="?", help="only this source's runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument(
        "--ids", action="store_true", help="run ids (for the admin API's syncRun) instead of counts"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_runs(settings, args.source_id, args.limit, args.ids))


async def _runs(settings: Settings, source_id: str | None, limit: int, ids: bool) -> int:
    selection = RunSelection(sources=(source_id,) if source_id else None)
    async with admin_port(settings) as admin:
        page = await admin.sync_runs(selection, first=limit, after=None, with_total=False)
    Console().print(runs_table(page.docs, ids=ids))
    return 0


def status_word(status: str) -> str:
    return _STATUS.get(status, status)


def when(moment: datetime | None) -> str:
    return f"{moment:%m-%d %H:%M}" if moment is not None else "-"


def count(counts: RunCounts, name: CountName) -> str:
    return str(counts.get(name) or 0)


def compact_table() -> Table:
    """A table with a rule under its heading and one space between columns."""
    # SIMPLE_HEAD's column separator is a space: no padding besides it.
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)


def runs_table(docs: Sequence[RunDoc], *, ids: bool = False) -> Table:
    headings = [COUNT_HEADINGS[name] for name in COUNT_NAMES]
    table = compact_table()
    if ids:
        table.add_column("run", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("source", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("mode", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if not ids:  # the ids take the counts' room
        for heading in headings:
            table.add_column(heading, justify="right", no_wrap=True, min_width=len(heading))
    for record in docs:
        row = [
            when(record.get("started_at") or record["created_at"]),
            record["source_id"],
            _MODE.get(record["mode"], record["mode"]),
            status_word(record["status"]),
        ]
        if ids:
            table.add_row(str(record["_id"]), *row)
        else:
            table.add_row(*row, *(count(record["counts"], name) for name in COUNT_NAMES))
    return table
