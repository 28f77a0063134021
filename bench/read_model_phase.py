"""What the read model costs an instance:

    bench read_model: rebuild_s=.. restart_ready_s=.. size_mib=.. api_rss_mib=..

rebuild_s: from starting the first instance with its read model's files deleted until
every API process answers /readyz 200 (the whole bench dataset projected from a
snapshot, process start included). size_mib: the read model's files right after that
rebuild. api_rss_mib: the largest VmRSS of one API process after the load phases
(api_rss_total_mib adds up all of the instance's processes, the supervisor too).
restart_ready_s: from starting the instance again, with a projection that is current,
until /readyz 200 from every API process.
"""

from __future__ import annotations

from dataclasses import dataclass

from servers import (
    MiB,
    Server,
    ServerSpec,
    api_processes,
    process_tree,
    rss_mib,
    running,
    wait_ready,
)

# The target is one minute at 10,000 / 50,000 / 2,000; allow for a slower machine.
REBUILD_TIMEOUT_S = 900.0

NaN = float("nan")


@dataclass
class ReadModelResult:
    rebuild_s: float = NaN
    restart_ready_s: float = NaN
    size_mib: float = NaN
    api_rss_mib: float = NaN
    api_rss_total_mib: float = NaN
    api_processes: int = 0

    def line(self) -> str:
        return (
            f"bench read_model: rebuild_s={self.rebuild_s:.1f} "
            f"restart_ready_s={self.restart_ready_s:.1f} size_mib={self.size_mib:.1f} "
            f"api_rss_mib={self.api_rss_mib:.1f} api_processes={self.api_processes} "
            f"api_rss_total_mib={self.api_rss_total_mib:.1f}"
        )


def remove_read_model(spec: ServerSpec) -> None:
    """Delete the instance's read model (database, WAL, shared memory, lock, a half-built
    file): its next start rebuilds it. Only while no server of `spec` runs."""
    for path in spec.read_model_files():
        path.unlink(missing_ok=True)


def read_model_mib(spec: ServerSpec) -> float:
    files = [p for p in spec.read_model_files() if not p.name.endswith(".lock")]
    return sum(p.stat().st_size for p in files if p.exists()) / MiB


async def start_rebuilding(spec: ServerSpec, server: Server, result: ReadModelResult) -> None:
    """Wait for the first instance, started after `remove_read_model`; note the rebuild."""
    result.rebuild_s = await wait_ready(server, REBUILD_TIMEOUT_S)
    result.size_mib = read_model_mib(spec)
    print(
        f"first instance rebuilt its read model and is ready in {result.rebuild_s:.1f}s "
        f"({result.size_mib:.1f} MiB, port {server.port})",
        flush=True,
    )


def note_memory(server: Server, result: ReadModelResult) -> None:
    processes = api_processes(server.pid)
    result.api_processes = len(processes)
    result.api_rss_mib = max(rss_mib(pid) for pid in processes)
    result.api_rss_total_mib = sum(rss_mib(pid) for pid in process_tree(server.pid))


async def restart(spec: ServerSpec, result: ReadModelResult) -> None:
    """Start the (stopped) instance again over its current read model; time to ready."""
    with running(spec) as server:
        result.restart_ready_s = await wait_ready(server, REBUILD_TIMEOUT_S)
    print(f"first instance restarted, ready in {result.restart_ready_s:.1f}s", flush=True)
