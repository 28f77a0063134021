"""`guildgraph` end to end: serve on loopback over the embedded database, stop on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.storage.embedded import EmbeddedDatabase, free_port
from tests.conftest import REPO


class Server:
    """`guildgraph serve` as a child process; readiness is read from its log, not polled.

    Two API processes under the supervisor unless `workers` says otherwise; `listening`
    is the line that says every one of them listens."""

    def __init__(self, data_dir: Path, *args: str, workers: int = 2, **settings: str) -> None:
        self.port = free_port()
        self.listening = "serving http://" if workers > 1 else "Uvicorn running on"
        env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        env.update(
            GUILDGRAPH_DATA_DIR=str(data_dir),
            GUILDGRAPH_DATABASE="cli",
            GUILDGRAPH_WORKERS=str(workers),
            **settings,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli.main", "serve", "--port", str(self.port), *args],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            self.log.append(line)
            if text in line:
                return
            if line == "":
                raise AssertionError("server exited:\n" + "".join(self.log))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 120) -> None:
        """Until /readyz says ready: the read model is built and caught up."""
        deadline = time.monotonic() + timeout
        while httpx.get(self.url("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready:\n" + "".join(self.log)
            time.sleep(0.05)

    def closed_log(self) -> str:
        """Everything the exited server wrote, once its pipe is closed."""
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        while not self.lines.empty():
            self.log.append(self.lines.get_nowait())
        return "".join(self.log)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code


def _secantus_processes(storage: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "secantus" in cmdline and str(storage) in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    for pid in _secantus_processes(tmp_path):
        os.kill(pid, signal.SIGKILL)


def test_serve_loads_the_demo_answers_and_stops_cleanly(data_dir: Path) -> None:
    server = Server(data_dir, "--load-demo-if-empty")
    try:
        server.wait_for(server.listening)
        server.wait_ready()
        query = '{ community(slug: "skolkovo-innovation-center") { name createdAt } }'
        response = httpx.post(server.url("/graphql"), json={"query": query})
        community = response.json()["data"]["community"]
        assert community["name"] == "Сколково"
        assert _secantus_processes(data_dir)
    finally:
        assert server.interrupt() == 0
    assert _secantus_processes(data_dir) == []

    again = Server(data_dir, "--load-demo-if-empty")
    try:
        again.wait_for(again.listening)
        again.wait_ready()
        response = httpx.post(again.url("/graphql"), json={"query": query})
        assert response.json()["data"]["community"] == community
    finally:
        assert again.interrupt() == 0


SHUTDOWN_BOUND_S = 20  # the default; it took 32-38 s before every step was bounded


def test_sigterm_exits_within_the_shutdown_bound_when_the_database_is_gone(
    tmp_path: Path,
) -> None:
    # A database the test owns, so it stays dead once killed (nobody restarts it).
    database = EmbeddedDatabase(tmp_path / "mongo")
    asyncio.run(database.start(60))
    try:
        server = Server(
            tmp_path / "data",
            MONGODB_URI=database.uri,
            GUILDGRAPH_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_BOUND_S),
            GUILDGRAPH_WORKER_POLL_S="0.2",
        )
        server.wait_for(server.listening)
        assert database.pid is not None
        os.kill(database.pid, signal.SIGKILL)
        # The service finds out: its worker's next tick fails on the dead database.
        server.wait_for("tick failed")
        # Requests keep arriving, each waiting on the dead database (the API key is
        # looked up there), so the stop signal finds one in flight.
        with _requests_in_flight(server.url("/graphql")) as sending:
            assert sending.wait(timeout=60)
            server.process.send_signal(signal.SIGTERM)
            try:
                code = server.process.wait(timeout=SHUTDOWN_BOUND_S)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
                code = None
            finally:
                log = server.closed_log()
        assert code is not None, f"still running {SHUTDOWN_BOUND_S} s after SIGTERM:\n{log}"
        assert code == -signal.SIGTERM, log
    finally:
        database.stop()


@contextlib.contextmanager
def _requests_in_flight(url: str) -> Iterator[threading.Event]:
    """Send requests one after another from a thread until the server is gone; the
    event is set when the first one is being sent."""
    sending = threading.Event()
    done = threading.Event()

    def mark(request: httpx.Request) -> None:
        sending.set()

    def send() -> None:
        with httpx.Client(timeout=120, event_hooks={"request": [mark]}) as client:
            while not done.is_set():
                try:
                    client.post(
                        url,
                        json={"query": "{ __typename }"},
                        headers={"Authorization": "Bearer gg_0000000000000000_x"},
                    )
                except httpx.TransportError:
                    return

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield sending
    finally:
        done.set()
        thread.join(timeout=30)


def test_schema_export_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "schema", "export", "--output", str(target)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(target) in result.stdout
    assert target.read_text() == (REPO / "schema" / "schema.graphql").read_text()


def _guildgraph(
    mongo_uri: str, database: str, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": mongo_uri, "GUILDGRAPH_DATABASE": database, **settings}
    return subprocess.run(
        [sys.executable, "-m", "service.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_sources_and_sync_commands_report_bad_input(mongo_uri: str, tmp_path: Path) -> None:
    bad = tmp_path / "source.json"
    bad.write_text('{"id": "x", "name": "x", "family": "association", "kind": "ftp", "config": {}}')
    added = _guildgraph(mongo_uri, "cli_sources", "sources", "add", str(bad))
    assert added.returncode == 2
    assert "unknown connector kind 'ftp'" in added.stderr
    missing = _guildgraph(mongo_uri, "cli_sources", "sync", "no-such-source")
    assert missing.returncode == 2
    assert "no source 'no-such-source'" in missing.stderr
    listed = _guildgraph(mongo_uri, "cli_sources", "sources", "list")
    assert listed.returncode == 0


def test_keys_are_created_listed_and_revoked(mongo_uri: str, tmp_path: Path) -> None:
    settings = {"GUILDGRAPH_KEY_SECRET": "cli-test-secret", "GUILDGRAPH_DATA_DIR": str(tmp_path)}
    source = tmp_path / "acme.json"
    source.write_text(
        '{"id": "acme", "name": "ACME", "family": "partner", "kind": "push", "config": {}}'
    )
    assert _guildgraph(mongo_uri, "cli_keys", "sources", "add", str(source)).returncode == 0

    created = _guildgraph(
        mongo_uri, "cli_keys", "keys", "create", "--role", "partner", "--source", "acme", **settings
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert key.startswith(f"gg_{key_id}_")

    listed = _guildgraph(mongo_uri, "cli_keys", "keys", "list", **settings)
    assert key_id in listed.stdout
    assert key not in listed.stdout  # never shown again

    refused = _guildgraph(
        mongo_uri, "cli_keys", "keys", "create", "--role", "partner", "--source", "nope", **settings
    )
    assert refused.returncode == 2
    assert "no source 'nope'" in refused.stderr

    assert _guildgraph(mongo_uri, "cli_keys", "keys", "revoke", key_id, **settings).returncode == 0
    again = _guildgraph(mongo_uri, "cli_keys", "keys", "revoke", key_id, **settings)
    assert again.returncode == 2
    assert "no active key" in again.stderr


def test_prod_without_a_key_secret_refuses_to_start(mongo_uri: str, tmp_path: Path) -> None:
    env = {"GUILDGRAPH_ENV": "prod", "GUILDGRAPH_DATA_DIR": str(tmp_path)}
    result = _guildgraph(mongo_uri, "cli_prod", "serve", "--port", "0", **env)
    assert result.returncode == 2
    assert "GUILDGRAPH_KEY_SECRET must be set in prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_sources_show_masks_secrets_as_the_admin_api_does(mongo_uri: str, tmp_path: Path) -> None:
    source = tmp_path / "platform.json"
    source.write_text(
        json.dumps(
            {
                "id": "meetups",
                "name": "Meetups",
                "family": "platform",
                "kind": "graphql",
                "config": {
                    "url": "https://platform.example.org/graphql",
                    "query": "query($after: String) { groups(after: $after) { nodes { id } } }",
                    "connection_path": "groups",
                    "mapping": {
                        "entity": "community",
                        "external_id": "id",
                        "fields": {"name.ru": "id", "kind": {"value": "professional"}},
                    },
                    "headers": {"Authorization": "Bearer s3cret"},
                },
            }
        )
    )
    assert _guildgraph(mongo_uri, "cli_show", "sources", "add", str(source)).returncode == 0

    shown = _guildgraph(mongo_uri, "cli_show", "sources", "show", "meetups")
    assert shown.returncode == 0, shown.stderr
    assert "s3cret" not in shown.stdout
    assert json.loads(shown.stdout)["config"]["headers"] == {"Authorization": "**********"}
    listed = _guildgraph(mongo_uri, "cli_show", "sources", "list")
    assert "meetups" in listed.stdout
    assert "s3cret" not in listed.stdout


def test_sources_add_names_each_problem_on_its_own_line(mongo_uri: str, tmp_path: Path) -> None:
    bad = tmp_path / "source.json"
    bad.write_text(
        json.dumps(
            {
                "id": "Bad Id",
                "name": "x",
                "family": "association",
                "kind": "csv",
                "config": {"url": "https://registry.example/r.csv", "mapping": {}},
                "schedule": "every day",
            }
        )
    )
    added = _guildgraph(mongo_uri, "cli_problems", "sources", "add", str(bad))
    assert added.returncode == 2
    problems = [line.strip() for line in added.stderr.splitlines() if line.startswith("  ")]
    assert any(line.startswith("id:") for line in problems), added.stderr
    assert any(line.startswith("schedule:") for line in problems), added.stderr
