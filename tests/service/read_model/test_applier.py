"""The read model follows MongoDB: snapshot, resume, rebuild, and its faults."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo.errors import PyMongoError

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.ingest.withdrawal import withdraw_listings
from service.read_model import store
from service.read_model.applier import Applier
from service.read_model.tables import FORMAT
from service.storage.client import mongo_client
from service.storage.collections import COMMUNITIES, EVENTS, Database
from service.storage.embedded import embedded_database
from service.storage.setup import ensure_collections
from tests.service.storage.test_embedded import servers

DEADLINE_S = 30.0


def community(external_id: str, name: str, **fields: Any) -> Listing:
    payload = {
        "name": {"ru": name},
        "kind": "professional",
        "form": "association",
        "industries": ["it"],
        "countries": ["RU"],
        **fields,
    }
    return Listing(
        entity=EntityType.COMMUNITY, source_id="rm-src", external_id=external_id, payload=payload
    )


def event(external_id: str, title: str, organizer: str) -> Listing:
    payload = {
        "title": {"ru": title},
        "format": "meetup",
        "starts_at": "2031-05-01T18:00:00+03:00",
        "timezone": "Europe/Moscow",
        "attendance_mode": "online",
        "online_url": "https://example.org/live",
        "organizers": [organizer],
    }
    return Listing(
        entity=EntityType.EVENT, source_id="rm-src", external_id=external_id, payload=payload
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.02)


def projected_ids(path: Path, table: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {row[0] for row in connection.execute(f"SELECT id FROM {table}")}  # noqa: S608


async def mongo_ids(db: Database, collection: str) -> set[str]:
    return {str(doc["_id"]) async for doc in db[collection].find({}, {"_id": 1})}


def _exists(path: Path) -> bool:
    return path.exists()


async def in_step(db: Database, path: Path) -> bool:
    if not _exists(path):
        return False
    for collection in (COMMUNITIES, EVENTS):
        if projected_ids(path, collection) != await mongo_ids(db, collection):
            return False
    return True


@contextlib.asynccontextmanager
async def applying(db: Database, path: Path) -> AsyncIterator[Applier]:
    applier = Applier(db, path)
    task = asyncio.create_task(applier.run())
    try:
        await eventually(_caught_up(applier), "the applier caught up")
        yield applier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _caught_up(applier: Applier) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return applier.caught_up.is_set()

    return check


def _delete(path: Path) -> None:
    path.unlink()


def _scribble(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 100)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "read_model" / "test.sqlite"


async def test_a_snapshot_then_every_change_is_applied(db: Database, path: Path) -> None:
    await ingest(db, [community("a", "Альфа"), community("b", "Бета")])
    async with applying(db, path) as applier:
        assert applier.rebuilds == 1
        assert projected_ids(path, "communities") == await mongo_ids(db, COMMUNITIES)

        await ingest(db, [community("c", "Гамма"), event("e1", "Митап", "a")])
        await ingest(db, [community("a", "Альфа, обновлённая")])
        await withdraw_listings(db, "rm-src", ["b"])
        await eventually(lambda: in_step(db, path), "changes applied")
        with contextlib.closing(sqlite3.connect(path)) as connection:
            query = "SELECT community_id FROM event_organizers"
            (organizer,) = connection.execute(query).fetchone()
        a = await db[COMMUNITIES].find_one({"sources.external_id": "a"})
        assert a is not None
        assert organizer == str(a["_id"])


async def test_a_restart_resumes_from_the_stored_token_without_a_rebuild(
    db: Database, path: Path
) -> None:
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path):
        pass
    # Written while no applier runs: the next one resumes and applies them.
    await ingest(db, [community("b", "Бета"), community("c", "Гамма")])
    async with applying(db, path) as applier:
        await eventually(lambda: in_step(db, path), "changes made while stopped applied")
        assert applier.rebuilds == 0


async def test_a_dropped_database_filled_again_is_rebuilt_following_or_resuming(
    db: Database, path: Path
) -> None:
    """The bench regenerates its dataset: the database is dropped and filled again.
    MongoDB ends a change stream at the drop (it is invalidated); an applier that kept
    following it applied nothing from then on, said it was caught up, and, resuming
    from before the drop after a restart, met the end again."""
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path):
        await _fill_again(db, [community("b", "Бета")])
        await eventually(lambda: in_step(db, path), "the new contents applied")
    # Dropped and filled again while no applier runs: the next resumes from before it.
    await _fill_again(db, [community("c", "Гамма")])
    async with applying(db, path) as applier:
        await eventually(lambda: in_step(db, path), "the contents after the drop applied")
        assert applier.rebuilds == 1


async def _fill_again(db: Database, listings: list[Listing]) -> None:
    await db.client.drop_database(db.name)
    await ensure_collections(db)
    await ingest(db, listings)


async def test_caught_up_only_once_what_was_written_before_the_start_is_applied(
    db: Database, path: Path
) -> None:
    """Caught up (and so ready) means every change committed before the applier started
    is in the file. Changes of collections the read model does not hold (a sync's raw
    listings, here 2,000 of them) reach it as empty batches: the first of those used to
    count as caught up while the changes behind them were still to come."""
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path):
        pass
    await db["scratch"].insert_many([{"n": n} for n in range(2000)])
    await ingest(db, [community("b", "Бета")])
    async with applying(db, path) as applier:
        assert applier.rebuilds == 0
        assert await in_step(db, path)


async def test_an_unusable_token_a_deleted_file_and_a_corrupt_file_are_rebuilt(
    db: Database, path: Path
) -> None:
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'resume_token'",
            (bson.encode({"_data": "not-a-token"}),),
        )
        connection.commit()
    async with applying(db, path) as applier:
        assert applier.rebuilds == 1

    _delete(path)
    await ingest(db, [community("b", "Бета")])
    async with applying(db, path) as applier:
        assert applier.rebuilds == 1
        assert await in_step(db, path)

    _scribble(path)
    async with applying(db, path) as applier:
        assert applier.rebuilds == 1
        assert await in_step(db, path)


async def test_a_file_of_another_format_is_rebuilt(db: Database, path: Path) -> None:
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("UPDATE meta SET value = 'old' WHERE key = 'format'")
        connection.commit()
    async with applying(db, path) as applier:
        assert applier.rebuilds == 1
        with contextlib.closing(sqlite3.connect(path)) as connection:
            assert store.get_meta(connection, "format") == FORMAT


async def test_the_file_deleted_while_applying_is_rebuilt_and_readers_keep_answering(
    db: Database, path: Path
) -> None:
    await ingest(db, [community("a", "Альфа")])
    async with applying(db, path) as applier:
        readers = store.Readers(path)
        before = readers.connection()
        _delete(path)
        # Readers keep the file they have open until a new one is in place.
        assert before.execute("SELECT COUNT(*) FROM communities").fetchone() == (1,)
        await ingest(db, [community("b", "Бета")])
        await eventually(lambda: in_step(db, path), "rebuilt after the delete")
        assert applier.rebuilds == 2
        await eventually(_reopened(readers, before), "readers moved to the new file")
        readers.close()


def _reopened(readers: store.Readers, before: sqlite3.Connection) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return readers.connection() is not before

    return check


async def test_rows_carry_what_filters_and_orders_read(db: Database, path: Path) -> None:
    await ingest(
        db,
        [community("a", "Ассоциация разработчиков", city="Москва", founded_year=2001, tags=["AI"])],
    )
    async with applying(db, path):
        with contextlib.closing(sqlite3.connect(path)) as connection:
            row = connection.execute(
                "SELECT kind, form, city_key, founded_year, name_key FROM communities"
            ).fetchone()
            values = set(connection.execute("SELECT field, value FROM community_values"))
            terms = {t for (t,) in connection.execute("SELECT term FROM community_terms")}
    assert row[:4] == ("professional", "association", "москва", 2001)
    assert row[4].startswith("ассоциация разработчиков\x01")
    assert {("industries", "it"), ("countries", "RU"), ("tags", "ai")} <= values
    assert "n:ассоциац" in terms
    assert "b:москв" in terms


def test_epoch_columns_compare_as_instants() -> None:
    from service.read_model.rows import epoch_us

    assert epoch_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1_000_000
    assert epoch_us(datetime(2031, 5, 1, 15, 0, tzinfo=UTC)) > epoch_us(
        datetime(2031, 5, 1, 14, 59, 59, 999_999, tzinfo=UTC)
    )


async def test_the_applier_resumes_after_its_database_is_killed_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "read_model" / "restart.sqlite"
    async with embedded_database(tmp_path / "db", 60) as uri:
        client = mongo_client(uri, serverSelectionTimeoutMS=2000)
        db = client["restart"]
        try:
            await ensure_collections(db)
            await ingest(db, [community("a", "Альфа")])
            async with applying(db, path) as applier:
                [killed] = servers(tmp_path / "db")
                os.kill(killed, signal.SIGKILL)
                # Written once the supervisor has the database back; the applier's
                # stream broke meanwhile and resumes after the last change it applied.
                await eventually(_answers(db, killed, tmp_path / "db"), "the database is back")
                await ingest(db, [community(f"n{i}", f"Новая {i}") for i in range(20)])
                await eventually(lambda: in_step(db, path), "changes after the restart applied")
                assert applier.rebuilds == 1
            with contextlib.closing(sqlite3.connect(path)) as connection:
                assert connection.execute("SELECT COUNT(*) FROM communities").fetchone() == (21,)
        finally:
            await client.close()


def _answers(db: Database, killed: int, storage: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            await db.client.admin.command("ping")
        except PyMongoError:
            return False
        return servers(storage) not in ([], [killed])

    return check


async def test_a_database_replaced_while_away_is_rebuilt_not_awaited(tmp_path: Path) -> None:
    """Its files removed and a new one filled (a restore, a reset data directory): the
    stored token is the old server's, and the new one's stream would never reach it."""
    path = tmp_path / "read_model" / "replaced.sqlite"
    storage = tmp_path / "db"
    for generation, names in enumerate((["Альфа", "Бета", "Гамма"], ["Дельта"])):
        if generation:
            shutil.rmtree(storage)
        async with embedded_database(storage, 60) as uri:
            client = mongo_client(uri, serverSelectionTimeoutMS=2000)
            db = client["replaced"]
            try:
                await ensure_collections(db)
                await ingest(
                    db, [community(f"g{generation}-{n}", name) for n, name in enumerate(names)]
                )
                async with applying(db, path) as applier:
                    assert applier.rebuilds == 1
                    assert await in_step(db, path)
            finally:
                await client.close()
    assert len(projected_ids(path, COMMUNITIES)) == 1
