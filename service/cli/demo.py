"""`guildgraph demo load`: the bundled demo dataset and demo sources."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import Any

from service.demo.dataset import load_demo
from service.demo.sources import sync_demo_sources
from service.settings import Settings
from service.storage.client import open_storage


def add_parser(commands: Any) -> None:
    demo = commands.add_parser("demo", help="the bundled demo dataset")
    demo.add_subparsers(dest="demo_command", required=True).add_parser(
        "load", help="load (or refresh) the demo dataset"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_load(settings))


async def _load(settings: Settings) -> int:
    async with open_storage(settings) as storage:
        results = await load_demo(storage.db)
        for run in await sync_demo_sources(storage.db):
            print(f"source {run['source_id']:<24} {run['status']:<20} {run['counts']}")
    counts = Counter((r.entity.value, r.outcome.value) for r in results)
    for (entity, outcome), count in sorted(counts.items()):
        print(f"{entity:<10} {outcome:<10} {count}")
    rejected = [r for r in results if r.outcome.value == "rejected"]
    for result in rejected:
        print(f"rejected {result.external_id}: {result.errors}", file=sys.stderr)
    return 1 if rejected else 0
