"""Bundled demo sources, one per family, synced through the real connectors.

The files in service/demo/source_files/ are registered as local sources (file://
URLs under the fetcher's allowed root, so nothing leaves the machine) and synced
like any other source: a newcomer sees registries, clusters and a calendar flow
into the graph, matched by hard keys to the demo dataset (the Internet
Development Association and the Novosibirsk medical cluster gain a second
provenance entry).
"""

from __future__ import annotations

import contextlib
import json
import logging
from importlib import resources
from pathlib import Path

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from schema.documents import RunDoc
from service.storage.collections import SOURCES, Database
from service.sync.engine import run_sync
from service.sync.runs import Mode, RunActive
from service.sync.sources import SourceError, SourceSpec, add_source

logger = logging.getLogger("guildgraph.demo")


def demo_sources_dir() -> Path:
    return Path(str(resources.files("service.demo").joinpath("source_files")))


def demo_specs() -> list[SourceSpec]:
    folder = demo_sources_dir()
    specs = []
    for raw in json.loads((folder / "sources.json").read_text(encoding="utf-8")):
        config = dict(raw["config"])
        config["url"] = (folder / config["url"]).resolve().as_uri()
        specs.append(SourceSpec.model_validate({**raw, "config": config}))
    return specs


async def sync_demo_sources(db: Database) -> list[RunDoc]:
    """Register the demo sources if needed and sync each; the finished run records."""
    policy = FetchPolicy(allow_file_roots=[str(demo_sources_dir().resolve())])
    runs = []
    async with SafeFetcher(policy) as fetcher:
        for spec in demo_specs():
            first_time = await db[SOURCES].find_one({"_id": spec.id}, {"_id": 1}) is None
            if first_time:
                with contextlib.suppress(SourceError):  # another instance added it
                    await add_source(db, spec)
            mode = Mode.FULL if first_time else Mode.INCREMENTAL
            try:
                runs.append(await run_sync(db, spec.id, fetcher, mode=mode, trigger="demo"))
            except RunActive as busy:
                logger.info("demo source %s: %s", spec.id, busy)  # another instance syncs it
    return runs
