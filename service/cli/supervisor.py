"""The supervisor of a host's API processes: `guildgraph serve` with GUILDGRAPH_WORKERS > 1.

It holds what the host has once: the port (reserved here; every API process binds its
own socket to it with SO_REUSEPORT, service.cli.shared_port), the embedded database
(started, restarted and stopped here, owning the data directory's lock; the API
processes use the running server, as the CLI does beside `make run`) and the startup
work (the demo load). Then it starts the API processes, each `guildgraph serve` again,
a full API process of its own that reads the host's one read-model file (whichever
holds its lock applies the change stream). Process 0 alone runs the sync worker (unless
GUILDGRAPH_WORKER_ENABLED turns it off), so a host has one worker, as with a single
process.

A process that dies is started again (backoff from 0.5 s up to 30 s, logged), but one
that dies before all of them first listened ends the start: a configuration or start-up
failure is reported, not retried. SIGTERM and SIGINT are passed on to every process
(each drains as a single process does), which must exit within the shutdown bound
(stragglers are killed at its end, the database's stop kept for after it); then the
database stops, and the supervisor exits as a single process would: re-raising
SIGTERM, or 0 after SIGINT. The processes get SIGINT when the supervisor dies however
it dies (PR_SET_PDEATHSIG): none outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from service.api.lifespan import StartupHook
from service.cli import shared_port
from service.settings import Settings
from service.storage.client import database_server, open_storage, server_stop_s
from service.storage.embedded import die_with_parent, exited

logger = logging.getLogger("guildgraph.supervisor")

# A process that died is started again after RESTART_MIN_S, then after twice as long
# each time it dies again, at most RESTART_MAX_S; once it has run RESTART_RESET_S the
# delay starts over (as for the embedded database).
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
RESTART_RESET_S = 60.0
# uvicorn's exit status when it cannot start.
STARTUP_FAILURE = 3


@dataclass
class Slot:
    """One API process of the host, through its restarts."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    listening: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.slots = [Slot(index) for index in range(settings.workers)]
        self.stop_signal: signal.Signals | None = None
        self.failure: int | None = None
        self._stopping = asyncio.Event()
        self._deadline = 0.0

    # --- signals -----------------------------------------------------------------------

    def on_signal(self, sig: signal.Signals) -> None:
        """SIGTERM or SIGINT: passed on to every process, each time one arrives (a
        second SIGTERM ends their drain period at once, as for a single process)."""
        if self.stop_signal is None:
            self.stop_signal = sig
            self._stop_by(self.settings.shutdown_timeout_s)
            logger.info("%s: stopping %d API processes", sig.name, len(self.slots))
        self._send(sig)

    def _stop_by(self, seconds: float) -> None:
        if not self._stopping.is_set():
            # The processes' share of the shutdown bound: the database's stop comes after.
            self._deadline = time.monotonic() + max(1.0, seconds - server_stop_s(self.settings))
            self._stopping.set()

    def _send(self, sig: signal.Signals) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, sig)

    # --- the processes -----------------------------------------------------------------

    def _spawn(self, slot: Slot) -> tuple[subprocess.Popen[bytes], int]:
        """Start one API process; returns it and the pipe it writes to once listening."""
        ready_read, ready_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "service.cli.main",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--api-process",
            str(slot.index),
            "--ready-fd",
            str(ready_write),
        ]
        env = dict(os.environ)
        if slot.index > 0:
            env["GUILDGRAPH_WORKER_ENABLED"] = "false"  # one sync worker per host
        try:
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which
            # passes it on once (a second SIGINT would cut a process's shutdown short).
            # SIGINT when the supervisor dies: no drain period, as nobody waits for one.
            slot.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(ready_write,),
                preexec_fn=die_with_parent(signal.SIGINT),
            )
        except BaseException:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        return slot.process, ready_read

    async def _keep(self, slot: Slot) -> None:
        """Run one slot's process until the stop, starting it again when it dies."""
        delay = RESTART_MIN_S
        while not self._stopping.is_set():
            process, ready = self._spawn(slot)
            up_since = time.monotonic()
            if await _listening(ready):
                if slot.listening.is_set():
                    logger.warning("API process %d restarted as pid %d", slot.index, process.pid)
                slot.listening.set()
            code = await exited(process)
            if self._stopping.is_set():
                return
            if not all(s.listening.is_set() for s in self.slots):
                logger.error(
                    "API process %d (pid %d) exited with code %s before it listened; stopping",
                    slot.index,
                    process.pid,
                    code,
                )
                self.failure = code if code > 0 else STARTUP_FAILURE
                self._stop_by(self.settings.shutdown_timeout_s)
                self._send(signal.SIGINT)  # the others: no drain, nobody was sent yet
                return
            if time.monotonic() - up_since >= RESTART_RESET_S:
                delay = RESTART_MIN_S
            logger.error(
                "API process %d (pid %d) exited with code %s; starting it again in %.1f s",
                slot.index,
                process.pid,
                code,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            delay = min(RESTART_MAX_S, delay * 2)
            slot.restarts += 1

    def _kept(self, keeper: asyncio.Task[None]) -> None:
        """A keeper ends at the stop; one that failed first stops the rest."""
        error = None if keeper.cancelled() else keeper.exception()
        if error is not None:
            logger.error("supervising an API process failed; stopping", exc_info=error)
            self.failure = self.failure or 1
            self._stop_by(self.settings.shutdown_timeout_s)
            self._send(signal.SIGINT)

    async def _all_listening(self) -> None:
        for slot in self.slots:
            await slot.listening.wait()

    async def _stop_signalled(self) -> None:
        await self._stopping.wait()

    async def _serve(self) -> None:
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        for keeper in keepers:
            keeper.add_done_callback(self._kept)
        listening = asyncio.create_task(self._all_listening())
        stopping = asyncio.create_task(self._stop_signalled())
        await asyncio.wait([listening, stopping], return_when=asyncio.FIRST_COMPLETED)
        if listening.done():
            shown = f"[{self.host}]" if ":" in self.host else self.host
            logger.info(
                "serving http://%s:%d with %d API processes (pids %s)",
                shown,
                self.port,
                len(self.slots),
                ", ".join(str(s.process.pid) for s in self.slots if s.process is not None),
            )
        else:
            listening.cancel()
        await stopping
        left = self._deadline - time.monotonic()
        _, running = await asyncio.wait(keepers, timeout=max(0.0, left))
        if running:
            for slot in self.slots:
                if slot.process is not None and slot.process.poll() is None:
                    logger.warning(
                        "API process %d (pid %d) still running at the end of the shutdown "
                        "bound; killing it",
                        slot.index,
                        slot.process.pid,
                    )
                    slot.process.kill()
            await asyncio.wait(keepers)

    async def main(self, startup: Sequence[StartupHook]) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)
        async with database_server(self.settings):
            if startup and not self._stopping.is_set():
                async with open_storage(self.settings) as storage:
                    for hook in startup:
                        await hook(storage.db)
            if not self._stopping.is_set():
                await self._serve()
        return self.failure or 0


async def _listening(ready_fd: int) -> bool:
    """Whether the process says it listens (True), or closes the pipe first (it exited)."""
    loop = asyncio.get_running_loop()
    said: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        if not said.done():
            try:
                said.set_result(bool(os.read(ready_fd, 1)))
            except OSError:
                said.set_result(False)

    loop.add_reader(ready_fd, readable)
    try:
        return await said
    finally:
        loop.remove_reader(ready_fd)
        os.close(ready_fd)


def run(settings: Settings, host: str, port: int, *, startup: Sequence[StartupHook]) -> int:
    """Serve with `settings.workers` API processes; the exit status of `guildgraph serve`."""
    try:
        reserved = shared_port.reserve(host, port)
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", host, port, error)
        return STARTUP_FAILURE
    code = 0
    with reserved:
        supervisor = Supervisor(settings, host, reserved.getsockname()[1])
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the handlers are in
            code = asyncio.run(supervisor.main(startup))
    if supervisor.stop_signal is signal.SIGTERM:
        # As a single process does (uvicorn re-raises it): the exit status is SIGTERM's.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    return code
