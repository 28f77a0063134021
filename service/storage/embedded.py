"""The embedded database: SecantusDB as a child process speaking the wire protocol.

SecantusDB is GPL-2.0, so it is only ever run as a separate program, never
imported; that also keeps its work off this interpreter's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from service.errors import ServiceError


class EmbeddedDatabaseError(ServiceError):
    """The embedded server did not come up; the message carries its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class EmbeddedDatabase:
    """Starts SecantusDB on a free loopback port; `uri` is valid between start and stop."""

    def __init__(
        self, storage_path: Path, *, port: int | None = None, sync_on_commit: bool = False
    ) -> None:
        self.storage_path = storage_path
        self.sync_on_commit = sync_on_commit
        self.requested_port = port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = storage_path.parent / "secantus.log"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start_process(self) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.port = self.requested_port or free_port()
        command = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_path),
            "--log-level",
            "WARNING",
        ]
        if self.sync_on_commit:
            command.append("--sync-on-commit")
        log = self.log_path.open("ab")
        # Its own process group, so Ctrl-C in a terminal reaches us first and we stop
        # it in order (a half-written WiredTiger checkpoint is what we avoid).
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise EmbeddedDatabaseError(
                        f"SecantusDB exited with code {self._process.returncode}:\n"
                        f"{_tail(self.log_path)}"
                    )
                try:
                    await client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        raise EmbeddedDatabaseError(
                            f"SecantusDB did not answer ping within {timeout_s:.0f}s "
                            f"on port {self.port}:\n{_tail(self.log_path)}"
                        ) from None
                    await asyncio.sleep(0.1)
        finally:
            await client.close()

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    async def start(self, timeout_s: float) -> None:
        self.start_process()
        try:
            await self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise


@contextlib.asynccontextmanager
async def embedded_database(storage_path: Path, timeout_s: float) -> AsyncIterator[str]:
    """Run SecantusDB for the duration of the block and yield its URI.

    When a server for these files is already running (`make run` in another
    terminal), use it: the CLI's `keys`, `sources` and `sync` commands then work
    beside the API instead of starting a second server on the same files.
    """
    address_file = storage_path.with_name(storage_path.name + ".uri")
    running = await _answering(_read(address_file))
    if running is not None:
        yield running
        return
    database = EmbeddedDatabase(storage_path)
    await database.start(timeout_s)
    address_file.write_text(database.uri, encoding="utf-8")
    try:
        yield database.uri
    finally:
        address_file.unlink(missing_ok=True)
        database.stop()


def _read(address_file: Path) -> str | None:
    try:
        return address_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


async def _answering(uri: str | None) -> str | None:
    """`uri` if a server answers there (a stale address file is ignored)."""
    if not uri:
        return None
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return None
    finally:
        await client.close()
    return uri
