"""The embedded database: starts, answers, persists across restarts, fails clearly; one
server per data directory, gone with the program that started it, restarted while it lives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pymongo.errors import PyMongoError

from service.settings import Settings
from service.storage.client import database_server, mongo_client
from service.storage.data_lock import loopback_uri
from service.storage.embedded import EmbeddedDatabase, EmbeddedDatabaseError, free_port
from tests.conftest import REPO


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


# --- one server per data directory, gone with its parent, restarted while it lives ----

# A program that starts an embedded server, says so, and waits to be killed. With
# "--no-pdeathsig" the server does not get the kernel's signal when the program dies:
# the orphan an older version of guildgraph could leave behind.
STARTER = """
import asyncio, sys
from pathlib import Path
import service.storage.embedded as embedded

if "--no-pdeathsig" in sys.argv:
    embedded.die_with_parent = lambda: None

async def main():
    database = embedded.EmbeddedDatabase(Path(sys.argv[1]))
    await database.start(60)
    print("started", database.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
GONE_WITHIN_S = 30.0


def servers(storage: Path) -> list[int]:
    """Pids of SecantusDB processes on these files (read from /proc, as `ps` would)."""
    found, path = [], str(storage.resolve()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"secantus" in argv and path in argv and state != "Z":
            found.append(int(entry.name))
    return found


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not within {within:.0f} s: {what}"
        await asyncio.sleep(0.1)


async def answers(uri: str) -> bool:
    client = mongo_client(uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    try:
        await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        await client.close()


@contextlib.contextmanager
def starter(storage: Path, *flags: str) -> Iterator[subprocess.Popen[str]]:
    """The STARTER program on `storage`, once its server answers."""
    process = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(storage), *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("started "), f"the starter said {line!r}"
        yield process
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
        for pid in servers(storage):  # whatever a failed test left behind
            os.kill(pid, signal.SIGKILL)


async def test_a_second_start_on_files_in_use_reuses_the_server_and_never_starts_another(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "db"
    first = EmbeddedDatabase(storage)
    await first.start(60)
    try:
        [pid] = servers(storage)
        second = EmbeddedDatabase(storage)
        await second.start(60)
        assert (second.uri, servers(storage)) == (first.uri, [pid])
        second.stop()  # stops nothing it did not start
        assert servers(storage) == [pid]
        assert await answers(first.uri)

        private = EmbeddedDatabase(storage, reuse=False)
        with pytest.raises(EmbeddedDatabaseError) as refused:
            await private.start(60)
        assert f"{storage} is in use by SecantusDB pid {pid}" in str(refused.value)
        assert servers(storage) == [pid]
    finally:
        first.stop()


async def test_files_locked_by_a_server_that_does_not_answer_are_refused_naming_it(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "db"
    first = EmbeddedDatabase(storage)
    await first.start(60)
    [pid] = servers(storage)
    os.kill(pid, signal.SIGSTOP)  # alive, holding its files, answering nobody
    try:
        with pytest.raises(EmbeddedDatabaseError) as refused:
            await EmbeddedDatabase(storage).start(3)
        message = str(refused.value)
        assert f"{storage} is in use by SecantusDB pid {pid}" in message
        assert "does not answer" in message
        assert servers(storage) == [pid]
    finally:
        os.kill(pid, signal.SIGCONT)
        # Woken with connections it never answered, it takes its time to stop cleanly;
        # these files are thrown away, so it is killed soon.
        first.stop(timeout_s=1)


async def test_a_killed_parent_leaves_no_server_behind(tmp_path: Path) -> None:
    storage = tmp_path / "db"
    with starter(storage) as process:
        [pid] = servers(storage)
        process.kill()

        async def server_gone() -> bool:
            return pid not in servers(storage)

        await wait_until(server_gone, f"server pid {pid} gone after its parent", GONE_WITHIN_S)
        # Its files are free: the next start runs its own server on them.
        again = EmbeddedDatabase(storage)
        await again.start(60)
        try:
            assert servers(storage) == [again.pid] != [pid]
        finally:
            again.stop()


async def test_an_orphan_whose_parent_is_gone_is_stopped_and_replaced(tmp_path: Path) -> None:
    storage = tmp_path / "db"
    with starter(storage, "--no-pdeathsig") as process:
        [orphan] = servers(storage)
        process.kill()
        process.wait()
        assert servers(storage) == [orphan]  # still running, parent gone

        database = EmbeddedDatabase(storage)
        await database.start(60)
        try:
            assert database.pid != orphan
            assert servers(storage) == [database.pid]
            assert await answers(database.uri)
        finally:
            database.stop()


async def test_a_supervised_server_that_dies_is_restarted_on_its_port_and_stopped_cleanly(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "db"
    database = EmbeddedDatabase(storage)
    await database.start(60)
    try:
        database.supervise()
        client = mongo_client(database.uri)
        await client.keep.things.insert_one({"_id": "kept"})
        first = database.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)

        async def restarted() -> bool:
            return database.restarts == 1 and await answers(database.uri)

        await wait_until(restarted, "the server restarted", GONE_WITHIN_S)
        [second] = servers(storage)
        assert second == database.pid != first
        # The same address: a client made before the kill works again.
        assert await client.keep.things.find_one({"_id": "kept"}) == {"_id": "kept"}
        await client.close()
    finally:
        database.stop()
    assert servers(storage) == []
    # Stopped cleanly and the files released: a start that may not reuse succeeds.
    again = EmbeddedDatabase(storage, reuse=False)
    await again.start(60)
    again.stop()
    assert servers(storage) == []


# --- a pinned port ------------------------------------------------------------------------


async def test_the_embedded_port_is_pinned_by_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("GUILDGRAPH_EMBEDDED_PORT", str(port))
    monkeypatch.setenv("GUILDGRAPH_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()

    async with database_server(settings) as uri:
        assert uri == loopback_uri(port)  # where a MongoDB tool can connect, every start
        client = mongo_client(uri)
        assert (await client.admin.command("ping"))["ok"] == 1
        await client.close()

        # The port is taken now: a second server asked for it says which setting to change.
        other = Settings(data_dir=tmp_path / "other")
        with pytest.raises(EmbeddedDatabaseError) as taken:
            async with database_server(other):
                pass
    message = str(taken.value)
    assert message.startswith(f"GUILDGRAPH_EMBEDDED_PORT={port}: the embedded database cannot ")
    assert "unset GUILDGRAPH_EMBEDDED_PORT for a free one" in message
