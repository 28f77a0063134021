"""The embedded database: starts, answers, persists across restarts, fails clearly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from service.storage.client import mongo_client
from service.storage.embedded import EmbeddedDatabase, EmbeddedDatabaseError


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    first = EmbeddedDatabase(tmp_path / "db")
    await first.start(60)
    try:
        client = mongo_client(first.uri)
        await client.keep.things.insert_one({"_id": "kept", "value": 42})
        await client.close()
    finally:
        first.stop()
    assert first._process is None

    second = EmbeddedDatabase(tmp_path / "db")
    await second.start(60)
    try:
        client = mongo_client(second.uri)
        assert await client.keep.things.find_one({"_id": "kept"}) == {"_id": "kept", "value": 42}
        await client.close()
    finally:
        second.stop()


async def test_a_server_that_cannot_start_fails_with_its_log_tail(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        database = EmbeddedDatabase(tmp_path / "db", port=taken.getsockname()[1])
        with pytest.raises(EmbeddedDatabaseError) as failure:
            await database.start(30)
    message = str(failure.value)
    assert message.startswith("SecantusDB exited with code")
    assert len(message.splitlines()) > 1  # the log tail follows
    assert database._process is None
