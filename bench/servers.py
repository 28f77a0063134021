"""The API servers a benchmark runs, and what is measured of them from outside.

Each server is `guildgraph serve` against the bench database with production
settings (rate limiting on, introspection off), its own data directory (so its own
read model) and its own log. By default it runs as `make run` does: one API process
per core under the supervisor. CPU and memory come from /proc, database round trips
from each API process's own /metrics.

Every server gets SIGINT when the benchmark dies, however it dies (die_with_parent),
and is stopped by `running` when the benchmark leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.storage.embedded import die_with_parent, free_port

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MiB = 1024 * 1024
# The address every source the bench serves listens on (file_server).
LOOPBACK_NETWORKS = '["127.0.0.1/32"]'


@dataclass(frozen=True)
class ServerSpec:
    """How to start one API instance."""

    mongodb_uri: str
    database: str
    key_secret: str  # the same for every instance, as production requires
    data_dir: Path  # its read model lives under it
    log_path: Path
    static_file: Path | None = None  # served at /bench/static (bench_cached)

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "MONGODB_URI": self.mongodb_uri,
            "GUILDGRAPH_DATABASE": self.database,
            "GUILDGRAPH_ENV": "prod",
            "GUILDGRAPH_KEY_SECRET": self.key_secret,
            "GUILDGRAPH_DATA_DIR": str(self.data_dir),
            # Counted as in production (locally, shared in batches), never reached:
            # every benchmark client comes from one address.
            "GUILDGRAPH_RATE_LIMIT_PER_ADDRESS": str(10**9),
            # Each response names the API process that answered, so the measurements
            # can add up every process's own /metrics.
            "GUILDGRAPH_SERVED_BY_HEADER": "true",
            # The bench serves the registry its sync reads on loopback.
            "GUILDGRAPH_FETCH_ALLOWED_NETWORKS": LOOPBACK_NETWORKS,
        }
        if self.static_file is not None:
            env["GUILDGRAPH_BENCH_STATIC_FILE"] = str(self.static_file)
        return env

    def read_model_files(self) -> list[Path]:
        """The read model's files for the bench database (service.read_model.runtime
        keeps them under data_dir/read_model/, named after the database)."""
        directory = self.data_dir / "read_model"
        return sorted(directory.glob(f"{self.database}.sqlite*")) if directory.is_dir() else []


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    spec: ServerSpec
    started_at: float  # time.monotonic() when the process was started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def start_server(spec: ServerSpec, port: int | None = None) -> Server:
    """Start `guildgraph serve`; GUILDGRAPH_WORKERS as the caller's environment has it
    (unset, as `make run`: one API process per core)."""
    port = free_port() if port is None else port
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "guildgraph"), "serve", "--port", str(port)]
    with spec.log_path.open("ab") as log:
        started = time.monotonic()
        # Own session: a Ctrl-C reaches only us, and we stop the server before the DB.
        # It gets SIGINT when this process dies, however it dies: a stop without the
        # drain period that SIGTERM would begin with.
        process = subprocess.Popen(
            command,
            env=spec.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),
        )
    return Server(process, port, spec, started)


def stop_server(server: Server) -> None:
    """SIGINT (no drain period), then SIGKILL after STOP_TIMEOUT_S."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextlib.contextmanager
def running(spec: ServerSpec, port: int | None = None) -> Iterator[Server]:
    server = start_server(spec, port)
    try:
        yield server
    finally:
        stop_server(server)


def log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


async def wait_ready(server: Server, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Wait until every API process of `server` answers /readyz 200 (its read model has
    caught up); the seconds since the server was started."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {server.process.returncode}:\n"
                    f"{log_tail(server.spec.log_path)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    ready_at = time.monotonic()
                    # Every API process, not only the one this connection reached.
                    wanted = api_processes(server.pid)
                    answers = await each_process(server.url, wanted, "/readyz")
                    if answers.keys() >= wanted and all(
                        answer.status_code == 200 for answer in answers.values()
                    ):
                        return ready_at - server.started_at
            await asyncio.sleep(0.05)
    raise RuntimeError(
        f"server not ready within {timeout_s:.0f}s:\n{log_tail(server.spec.log_path)}"
    )


# --- processes -------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """A process and every live process below it (Linux /proc)."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                tree.extend(int(child) for child in (task / "children").read_text().split())
        index += 1
    return tree


def api_processes(server_pid: int) -> set[int]:
    """The server's API processes: the supervisor's `guildgraph serve` children, or the
    server itself when it serves alone (GUILDGRAPH_WORKERS=1)."""
    found = set()
    for pid in process_tree(server_pid)[1:]:
        with contextlib.suppress(OSError):
            if b"service.cli.main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
    return found or {server_pid}


async def each_process(url: str, pids: set[int], path: str) -> dict[int, httpx.Response]:
    """An answer from each of `pids` (as many as answered): GETs on new connections,
    since the kernel hands each connection to one of the processes on the port."""
    answers: dict[int, httpx.Response] = {}
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh, timeout=30.0) as once:
        for _ in range(100 * len(pids)):
            response = await once.get(path)
            answers[int(response.headers["x-served-by"].rsplit(":", 1)[1])] = response
            if answers.keys() >= pids:
                break
    return answers


def cpu_seconds(pid: int) -> float:
    """utime + stime of the server: its process and every one below it (the API
    processes), from /proc/<pid>/stat (fields 14 and 15), with the children it has
    reaped (cutime + cstime, fields 16 and 17: an API process that was restarted)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            # The command name (field 2) may contain spaces; fields are counted after it.
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            if member == pid:
                total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of one process (VmRSS), 0 when it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- /metrics --------------------------------------------------------------------------


def metric_total(text: str, name: str) -> float:
    """Sum of a Prometheus counter over all its label sets."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((f"{name}{{", f"{name} ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def metric_totals(server: Server, names: tuple[str, ...]) -> dict[str, float]:
    """Each counter in `names`, summed over the API processes (each counts its own)."""
    wanted = api_processes(server.pid)
    answers = await each_process(server.url, wanted, "/metrics")
    if answers.keys() < wanted:
        raise RuntimeError(f"/metrics answered by {sorted(answers)}, not {sorted(wanted)}")
    totals = dict.fromkeys(names, 0.0)
    for response in answers.values():
        response.raise_for_status()
        for name in names:
            totals[name] += metric_total(response.text, name)
    return totals
