"""The embedded database: SecantusDB as a supervised child process speaking the wire protocol.

SecantusDB is GPL-2.0, so it is only ever run as a separate program, never
imported; that also keeps its work off this interpreter's lock.

One server per data directory (service.storage.data_lock): a start uses the server
already running on the files, stops an orphan whose parent is gone, or refuses; it
never starts a second one. The server dies with the program that started it (the
kernel sends it SIGTERM when its parent goes, on Linux), and while that program
lives `supervise` restarts a server that died, on the same port, so the address
clients hold stays valid. Every commit is fsynced (`--sync-on-commit`) unless asked
otherwise: an acknowledged write survives a killed process and a power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from service.errors import ServiceError
from service.storage.data_lock import DataLock, Owner, alive, loopback_uri, servers_on

logger = logging.getLogger("guildgraph.embedded")

# A server that died is restarted after RESTART_MIN_S, then after twice as long each
# time it dies again, at most RESTART_MAX_S; once it has run RESTART_RESET_S the
# delay starts over.
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
RESTART_RESET_S = 60.0
# An orphan (or a server left by an older version) is asked to stop, then killed.
ORPHAN_STOP_S = 10.0
_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1


class EmbeddedDatabaseError(ServiceError):
    """The embedded server did not come up, or its files are in use; the message says
    which process and directory, or carries the server's log tail."""


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


def die_with_parent(signum: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `signum` when this process dies (Linux).

    The kernel signals when the *thread* that started the child ends, so start
    children from the main (event loop) thread. None where prctl is not available.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os._exit(1)

    return preexec


class EmbeddedDatabase:
    """SecantusDB on a loopback port over `storage_path`; `uri` is valid between start
    and stop.

    `start` takes the data directory's lock and starts a server, or (`reuse`) uses the
    server another program runs there, or stops an orphan first, or refuses; `stop`
    stops only what this object started. `fresh` empties the data directory once the
    lock is held (benchmarks), and never reuses.
    """

    def __init__(
        self,
        storage_path: Path,
        *,
        port: int | None = None,
        port_setting: str | None = None,
        sync_on_commit: bool = True,
        reuse: bool = True,
        fresh: bool = False,
    ) -> None:
        self.storage_path = storage_path
        # Where a pinned `port` came from (a setting's name), for the error when it is taken.
        self.port_setting = port_setting
        self.sync_on_commit = sync_on_commit
        self.reuse = reuse and not fresh
        self.fresh = fresh
        self.requested_port = port
        self.port = 0
        # The server another program runs on these files, when this object uses it.
        self.reused: Owner | None = None
        self.restarts = 0
        self.log_path = storage_path.parent / "secantus.log"
        self._lock = DataLock(storage_path)
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._start_timeout_s = 30.0

    @property
    def uri(self) -> str:
        return loopback_uri(self.port)

    @property
    def pid(self) -> int | None:
        """The server's pid: the one this object started, or the one it reuses."""
        if self.reused is not None:
            return self.reused.server_pid
        return self._process.pid if self._process is not None else None

    async def start(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self._stopping = False
        self._start_timeout_s = timeout_s
        try:
            if not await self._acquire(deadline):
                logger.info(
                    "using SecantusDB pid %d on %s (started by pid %d)",
                    self.reused.server_pid if self.reused else 0,
                    self.storage_path,
                    self.reused.parent_pid if self.reused else 0,
                )
                return
            await self._stop_unlocked_servers(deadline)
            self._check_pinned_port()
            if self.fresh:
                shutil.rmtree(self.storage_path, ignore_errors=True)
            self._spawn()
            await self.wait_ready(max(0.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise

    async def _acquire(self, deadline: float) -> bool:
        """True once the lock is ours; False when the running server is used instead."""
        asked_to_stop: float | None = None
        while not self._lock.try_acquire():
            owner = self._lock.owner()
            if owner is not None and not alive(owner.parent_pid):
                # An orphan: the program that started it is gone and nobody stops it.
                asked_to_stop = self._stop_orphan(owner, asked_to_stop)
            elif owner is not None and self.reuse and await _answering(owner.uri):
                self.port, self.reused = owner.port, owner
                if self.requested_port not in (None, owner.port):
                    logger.warning(
                        "%s asks for port %d, but the SecantusDB already running on %s "
                        "listens on %d: using it there",
                        self.port_setting or "the configuration",
                        self.requested_port,
                        self.storage_path,
                        owner.port,
                    )
                return False
            elif owner is not None and not self.reuse and alive(owner.server_pid):
                raise EmbeddedDatabaseError(self._in_use(owner, "is running"))
            if time.monotonic() > deadline:
                raise EmbeddedDatabaseError(self._in_use(owner, "does not answer"))
            await asyncio.sleep(_POLL_S)
        # Ours now; a record left by a killed owner no longer describes anyone.
        self._lock.owner_path.unlink(missing_ok=True)
        # The address file of versions from before the owner record.
        self.storage_path.with_name(self.storage_path.name + ".uri").unlink(missing_ok=True)
        return True

    def _in_use(self, owner: Owner | None, state: str) -> str:
        if owner is None:
            return (
                f"{self.storage_path} is locked ({self._lock.lock_path}) by a process that "
                f"left no owner record; see `fuser {self._lock.lock_path}`"
            )
        return (
            f"{self.storage_path} is in use by SecantusDB pid {owner.server_pid} (started "
            f"by pid {owner.parent_pid} at {owner.started_at}, port {owner.port}), which "
            f"{state}; stop that process or use another data directory"
        )

    def _stop_orphan(self, owner: Owner, asked_at: float | None) -> float:
        """SIGTERM the orphan once, SIGKILL it when it has not gone after ORPHAN_STOP_S;
        only a process that is a server on these files is signalled."""
        serving = owner.server_pid in servers_on(self.storage_path)
        if asked_at is None:
            if serving:
                logger.warning(
                    "SecantusDB pid %d on %s outlived the program that started it "
                    "(pid %d); stopping it",
                    owner.server_pid,
                    self.storage_path,
                    owner.parent_pid,
                )
                _signal(owner.server_pid, signal.SIGTERM)
            return time.monotonic()
        if serving and time.monotonic() - asked_at > ORPHAN_STOP_S:
            _signal(owner.server_pid, signal.SIGKILL)
        return asked_at

    async def _stop_unlocked_servers(self, deadline: float) -> None:
        """Servers on these files that hold no lock were started by a version of
        guildgraph from before it; two servers on one directory corrupt it."""
        stop_by = min(deadline, time.monotonic() + ORPHAN_STOP_S)
        asked: set[int] = set()
        while found := servers_on(self.storage_path):
            for pid in found:
                if pid not in asked:
                    logger.warning(
                        "stopping SecantusDB pid %d on %s (started without the lock)",
                        pid,
                        self.storage_path,
                    )
                    _signal(pid, signal.SIGTERM)
                    asked.add(pid)
                elif time.monotonic() > stop_by:
                    _signal(pid, signal.SIGKILL)
            await asyncio.sleep(_POLL_S)

    def _check_pinned_port(self) -> None:
        """A port pinned by a setting must be free: say so, naming the setting, rather
        than leave the server to fail with a bind error in its log."""
        if self.requested_port is None or self.port_setting is None or self.port:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.requested_port))
            except OSError as error:
                raise EmbeddedDatabaseError(
                    f"{self.port_setting}={self.requested_port}: the embedded database cannot "
                    f"listen on 127.0.0.1:{self.requested_port} ({error.strerror}); another "
                    f"program uses that port: choose another, or unset {self.port_setting} "
                    "for a free one"
                ) from None

    def _spawn(self) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        # The same port on every restart: clients keep the address they hold.
        self.port = self.port or self.requested_port or free_port()
        command = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_path.resolve()),
            "--log-level",
            "WARNING",
        ]
        if self.sync_on_commit:
            command.append("--sync-on-commit")
        with self.log_path.open("ab") as log:
            # Its own process group, so Ctrl-C in a terminal reaches us first and we stop
            # it in order (a half-written WiredTiger checkpoint is what we avoid). It
            # inherits the lock, so the files stay locked while it runs, even after a kill
            # of this process; and it gets SIGTERM when this process dies.
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(self._lock.fd,),
                preexec_fn=die_with_parent(),
            )
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._lock.record(Owner(self._process.pid, os.getpid(), self.port, started_at))

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

    def supervise(self) -> None:
        """Restart the server whenever it dies, until `stop`; call inside the running
        loop, on its thread. Nothing to do for a server this object does not own."""
        if self._supervisor is None and self._process is not None:
            self._supervisor = asyncio.create_task(
                self._supervise(), name=f"supervise SecantusDB on {self.storage_path}"
            )

    async def _supervise(self) -> None:
        delay = RESTART_MIN_S
        while not self._stopping and self._process is not None:
            process, up_since = self._process, time.monotonic()
            code = await exited(process)
            if self._stopping:
                return
            if time.monotonic() - up_since >= RESTART_RESET_S:
                delay = RESTART_MIN_S
            logger.error(
                "SecantusDB pid %d exited with code %s; restarting it on port %d in %.1f s\n%s",
                process.pid,
                code,
                self.port,
                delay,
                _tail(self.log_path, 5),
            )
            await asyncio.sleep(delay)
            delay = min(RESTART_MAX_S, delay * 2)
            try:
                self._spawn()
                await self.wait_ready(self._start_timeout_s)
            except (EmbeddedDatabaseError, OSError) as error:
                logger.error("SecantusDB did not restart: %s", error)
                self._kill()  # tried again after the next delay
                continue
            self.restarts += 1
            logger.warning(
                "SecantusDB restarted as pid %d on port %d", self._process.pid, self.port
            )

    async def end_supervision(self) -> None:
        """Stop restarting the server, and wait until the supervisor has let go."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            _signal(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server this object started (never one it reuses) and let the files go."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            # Ends at its next step; referenced until then (the loop holds tasks weakly).
            supervisor.cancel()
            _ending.add(supervisor)
            supervisor.add_done_callback(_ending.discard)
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        finally:
            self.reused = None
            self._lock.release()


_ending: set[asyncio.Task[None]] = set()


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


async def exited(process: subprocess.Popen[bytes]) -> int:
    """The exit code, once the process ends: a pidfd becomes readable then (Linux 5.3+;
    elsewhere a thread waits)."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return await asyncio.to_thread(process.wait)
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await ended
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()


@contextlib.asynccontextmanager
async def embedded_database(
    storage_path: Path,
    timeout_s: float,
    *,
    stop_timeout_s: float = 15.0,
    port: int | None = None,
    port_setting: str | None = None,
) -> AsyncIterator[str]:
    """Run SecantusDB for the duration of the block and yield its URI.

    When a server is already running on these files (`make run` in another
    terminal), it is used: the CLI's `keys`, `sources` and `sync` commands then work
    beside the API instead of starting a second server on the same files. A server
    this block starts is supervised (restarted when it dies) and stopped at its end.
    `port` pins its loopback port (a free one otherwise); `port_setting` names where
    that came from, for the error when the port is taken.
    """
    database = EmbeddedDatabase(storage_path, port=port, port_setting=port_setting)
    await database.start(timeout_s)
    try:
        database.supervise()
        yield database.uri
    finally:
        try:
            await database.end_supervision()
        finally:
            database.stop(stop_timeout_s)


async def _answering(uri: str) -> bool:
    """Whether a server answers `ping` at `uri`."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        await client.close()
    return True
