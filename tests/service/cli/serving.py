"""`guildgraph serve` as a child process of a test: its port and progress read from its
log, its processes found in /proc. Every wait ends on what it waits for (a log line,
an answer, an exit) or fails after a safety-net bound."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.storage.data_lock import alive
from tests.conftest import REPO, TEST_KEY_SECRET

WAIT_S = 60  # a safety net only: every wait ends on the awaited line, answer or exit
_LISTENING = re.compile(r"(?:Uvicorn running on|serving) http://127\.0\.0\.1:(\d+)")
QUERY = {"query": "{ industries { code } }"}


class Serve:
    """One `guildgraph serve --port 0` with `workers` API processes. `mongo_uri` None:
    the embedded database under `data_dir`, started by the command itself."""

    def __init__(
        self,
        mongo_uri: str | None,
        database: str,
        data_dir: Path,
        *args: str,
        workers: int = 1,
        **env: str,
    ) -> None:
        environment = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        environment.update(
            {
                "GUILDGRAPH_DATABASE": database,
                "GUILDGRAPH_DATA_DIR": str(data_dir),
                "GUILDGRAPH_KEY_SECRET": TEST_KEY_SECRET,
                "GUILDGRAPH_WORKER_ENABLED": "false",
                "GUILDGRAPH_WORKERS": str(workers),
                # A write waits for the read model to show it; on a loaded test machine
                # the production bound (2 s) can pass first, and the write would return
                # unseen. Tests assert what the barrier guarantees, so give it room.
                "GUILDGRAPH_READ_YOUR_WRITES_TIMEOUT_S": "30",
                **env,
            }
        )
        if mongo_uri is not None:
            environment["MONGODB_URI"] = mongo_uri
        self.workers = workers
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli.main", "serve", "--port", "0", *args],
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        try:
            # With several processes, the supervisor's line once every one listens.
            listening = "Uvicorn running on" if workers == 1 else "serving http://"
            match = _LISTENING.search(self.wait_for(listening))
            assert match, self.log
            self.url = f"http://127.0.0.1:{match.group(1)}"
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        """Until /readyz says ready: the read model is built and caught up."""
        deadline = time.monotonic() + WAIT_S
        while httpx.get(f"{self.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready:\n" + "".join(self.log)
            time.sleep(0.05)

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)
        self._lines.put("")

    def wait_for(self, text: str) -> str:
        while True:
            line = self._lines.get(timeout=WAIT_S)
            self.log.append(line)
            if text in line:
                return line
            if line == "":
                raise AssertionError(f"exited before {text!r}:\n" + "".join(self.log))

    def exit_code(self, timeout: float = WAIT_S) -> int:
        code = self.process.wait(timeout=timeout)
        while (line := self._lines.get(timeout=WAIT_S)) != "":
            self.log.append(line)
        return code

    def api_processes(self) -> list[int]:
        """The pids of the API processes the supervisor runs (its Python children)."""
        return [pid for pid in children(self.process.pid) if "service.cli.main" in cmdline(pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=WAIT_S)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def serving(
    mongo_uri: str | None, database: str, tmp_path: Path, *args: str, workers: int = 1, **env: str
) -> Iterator[Serve]:
    server = Serve(mongo_uri, database, tmp_path / "data", *args, workers=workers, **env)
    try:
        yield server
    finally:
        server.stop()


def children(pid: int) -> list[int]:
    """The live children of a process (Linux /proc)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return [child for child in found if alive(child)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_gone(pids: list[int], timeout_s: float = WAIT_S) -> list[int]:
    """Wait until none of `pids` is alive (a zombie counts as gone); the ones left."""
    deadline = time.monotonic() + timeout_s
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_all(pids: list[int]) -> None:
    """The last resort of a failed test: nothing it started outlives it."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
