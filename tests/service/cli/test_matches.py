"""`guildgraph matches`: the review queue and decisions from the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.storage.collections import COMMUNITIES, Database
from tests.conftest import REPO


def guildgraph(mongo_uri: str, database: str, tmp: Path, *args: str) -> str:
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "GUILDGRAPH_DATABASE": database,
        "GUILDGRAPH_DATA_DIR": str(tmp),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "matches", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def record(source: str, name: str, **extra: str) -> Listing:
    payload = {"name": {"en": name}, "kind": "national", "form": "association", **extra}
    return Listing(entity=EntityType.COMMUNITY, source_id=source, external_id="1", payload=payload)


async def test_a_review_is_listed_and_resolved(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    await ingest(db, [record("a", "Robotics Investors Union")])
    await ingest(db, [record("b", "Robtoics Investors Union")])

    listed = guildgraph(mongo_uri, db.name, tmp_path, "list")
    assert "Robtoics Investors Union" in listed
    assert "Robotics Investors Union" in listed
    decision_id = listed.split()[0]

    resolved = guildgraph(mongo_uri, db.name, tmp_path, "resolve", decision_id, "same")
    assert "same" in resolved
    assert await db[COMMUNITIES].count_documents({}) == 1
    shown = guildgraph(mongo_uri, db.name, tmp_path, "policy", "community_merge=7")
    assert "community_merge = 7.0" in shown


async def test_merge_and_split_from_the_console(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    await ingest(db, [record("a", "Alpha Guild", city="Kazan")])
    await ingest(db, [record("b", "Alpha Guild", city="Moscow")])
    a, b = [str(doc["_id"]) async for doc in db[COMMUNITIES].find({}).sort("created_at", 1)]

    merged = guildgraph(mongo_uri, db.name, tmp_path, "merge", "community", a, b)
    assert f"merged into {a}: {b}" in merged
    assert await db[COMMUNITIES].count_documents({}) == 1

    split = guildgraph(mongo_uri, db.name, tmp_path, "split", "community", a, "b/1")
    assert "split off as" in split
    assert await db[COMMUNITIES].count_documents({}) == 2
    decided = guildgraph(mongo_uri, db.name, tmp_path, "list", "--status", "different")
    assert a in decided
