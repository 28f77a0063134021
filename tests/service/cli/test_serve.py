"""`guildgraph serve` as operators run it: the drain period after SIGTERM, and client
addresses behind (un)trusted proxies. Each test runs a real process on loopback over
the session's database and stops it, also when the test fails."""

from __future__ import annotations

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

from service.storage.collections import Database
from tests.conftest import REPO, TEST_KEY_SECRET

WAIT_S = 60  # a safety net only: every wait ends on the awaited line or exit
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
QUERY = {"query": "{ industries { code } }"}


class Serve:
    """One `guildgraph serve --port 0`; its port and progress are read from its log."""

    def __init__(self, mongo_uri: str, database: str, data_dir: Path, **env: str) -> None:
        environment = {
            **os.environ,
            "MONGODB_URI": mongo_uri,
            "GUILDGRAPH_DATABASE": database,
            "GUILDGRAPH_DATA_DIR": str(data_dir),
            "GUILDGRAPH_KEY_SECRET": TEST_KEY_SECRET,
            "GUILDGRAPH_WORKER_ENABLED": "false",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli.main", "serve", "--port", "0"],
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
            match = _LISTENING.search(self.wait_for("Uvicorn running on"))
            assert match, self.log
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{match.group(1)}"
        self.wait_ready()

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
def serving(mongo_uri: str, db: Database, tmp_path: Path, **env: str) -> Iterator[Serve]:
    server = Serve(mongo_uri, db.name, tmp_path / "data", **env)
    try:
        yield server
    finally:
        server.stop()


def test_after_sigterm_readyz_says_draining_and_requests_are_served(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    # A drain period far longer than the test: only the second signal ends it.
    env = {"GUILDGRAPH_DRAIN_S": "120", "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": "300"}
    with serving(mongo_uri, db, tmp_path, **env) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("draining for")
        ready = httpx.get(f"{server.url}/readyz")  # the listener is still open
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        served = httpx.post(f"{server.url}/graphql", json=QUERY)
        assert served.status_code == 200
        assert served.json()["data"]["industries"]
        server.process.send_signal(signal.SIGTERM)  # a second signal: stop now
        # uvicorn re-raises the signal once shut down: the exit status is SIGTERM's.
        assert server.exit_code(timeout=WAIT_S) == -signal.SIGTERM
    assert any("Application shutdown complete" in line for line in server.log)


def test_the_drain_period_ends_by_itself_within_the_shutdown_bound(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    env = {"GUILDGRAPH_DRAIN_S": "1", "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": "10"}
    with serving(mongo_uri, db, tmp_path, **env) as server:
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("draining for 1.0 s")
        assert server.exit_code(timeout=WAIT_S) == -signal.SIGTERM
    log = "".join(server.log)
    assert "drain period over" in log
    assert "Application shutdown complete" in log


def _statuses(server: Serve, addresses: list[str]) -> list[int]:
    return [
        httpx.post(
            f"{server.url}/graphql", json=QUERY, headers={"X-Forwarded-For": address}
        ).status_code
        for address in addresses
    ]


LIMITED = {"GUILDGRAPH_RATE_LIMIT_PER_ADDRESS": "2", "GUILDGRAPH_RATE_LIMIT_WINDOW_S": "3600"}


def test_x_forwarded_for_does_not_escape_the_address_limit_by_default(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    with serving(mongo_uri, db, tmp_path, **LIMITED) as server:
        assert _statuses(server, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 429]


def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    trusted = {**LIMITED, "GUILDGRAPH_TRUSTED_PROXIES": '["127.0.0.0/8"]'}
    with serving(mongo_uri, db, tmp_path, **trusted) as server:
        assert _statuses(server, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 200]
        assert _statuses(server, ["10.0.0.1", "10.0.0.1"]) == [200, 429]
