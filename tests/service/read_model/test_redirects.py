"""Merged-away ids in the read model: copied by a rebuild, followed by the applier,
and read by the public look-ups by id without a database round trip."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId

from schema.taxonomy import EntityType
from service.admin import matches
from service.ingest.pipeline import ingest
from service.matching import redirects
from service.read.reader import GraphReader
from service.read_model.barrier import ReadBarrier
from service.read_model.rows import COMMUNITIES
from service.read_model.store import Readers, versions
from service.storage.collections import Database
from tests.service.read_model.test_applier import applying, community

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "read_model" / "test.sqlite"


def projected(path: Path) -> dict[str, tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT id, collection, to_id FROM redirects")
        return {old: (collection, to) for old, collection, to in rows}


async def two_communities(db: Database, *names: str) -> list[ObjectId]:
    await ingest(db, [community(name, f"{name} {i}", city=name) for i, name in enumerate(names)])
    ids = []
    for name in names:
        doc = await db[COMMUNITIES].find_one({"sources.external_id": name})
        assert doc is not None
        ids.append(doc["_id"])
    return ids


async def test_a_rebuild_copies_the_redirects_and_look_ups_follow_them(
    db: Database, path: Path
) -> None:
    survivor, gone = await two_communities(db, "Kazan", "Perm")
    await matches.merge(db, EntityType.COMMUNITY, [survivor, gone], NOW)

    async with applying(db, path) as applier:
        assert applier.rebuilds == 1
        assert projected(path) == {str(gone): (COMMUNITIES, str(survivor))}
        readers = Readers(path)
        try:
            reader = GraphReader(readers.connection, NOW)
            found = await reader.communities_by_ids([str(gone), str(survivor), "nope"])
            assert [d["_id"] if d else None for d in found] == [survivor, survivor, None]
            # Another type's look-up does not follow a community's redirect.
            assert await reader.event(str(gone)) is None
        finally:
            readers.close()


async def test_the_applier_follows_new_and_forgotten_redirects(db: Database, path: Path) -> None:
    survivor, gone = await two_communities(db, "Omsk", "Tver")
    async with applying(db, path):
        readers = Readers(path)
        barrier = ReadBarrier(db, readers, timeout_s=30.0)
        try:
            before = versions(readers.connection())[COMMUNITIES][0]
            # A redirect alone (no entity change in the batch) counts as a change of
            # communities: cached answers to `node(oldId)` must not outlive it.
            await redirects.record(db, "community", [gone], survivor, NOW)
            assert await barrier.wait()
            assert projected(path) == {str(gone): (COMMUNITIES, str(survivor))}
            assert versions(readers.connection())[COMMUNITIES][0] > before

            await redirects.forget(db, [gone])
            assert await barrier.wait()
            assert projected(path) == {}
        finally:
            readers.close()
