"""Who runs the embedded server on a data directory: a lock and an owner record beside it.

`<data>.lock` is held (`flock`) by the program that started the server and, through a
descriptor the server inherits, by the server itself: while either lives no second
server starts on these files (two WiredTiger processes on one directory end in a
panic). `<data>.owner.json` says who that is — the server's pid, its parent's pid, its
port, when it started — so another program can use the running server (the CLI beside
`make run`), stop an orphan whose parent is gone, or name what is in the way.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from service.storage.file_lock import FileLock


@dataclass(frozen=True)
class Owner:
    """The server on a data directory and the program that started it."""

    server_pid: int
    parent_pid: int
    port: int
    started_at: str

    @property
    def uri(self) -> str:
        return loopback_uri(self.port)


def loopback_uri(port: int) -> str:
    """The address of an embedded server on this machine."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


class DataLock:
    """The lock file and owner record of one data directory."""

    def __init__(self, storage_path: Path) -> None:
        self.lock_path = storage_path.with_name(storage_path.name + ".lock")
        self.owner_path = storage_path.with_name(storage_path.name + ".owner.json")
        self._lock = FileLock(self.lock_path)

    @property
    def fd(self) -> int:
        """The locked descriptor, for the server to inherit (`pass_fds`)."""
        return self._lock.fd

    @property
    def held(self) -> bool:
        return self._lock.held

    def try_acquire(self) -> bool:
        """Take the lock if no live process holds it; never waits."""
        return self._lock.try_acquire()

    def release(self) -> None:
        """Forget the owner and let the lock go (a server still running keeps it held)."""
        if not self._lock.held:
            return
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()

    def record(self, owner: Owner) -> None:
        """Write the owner record whole (a reader never sees half of it)."""
        partial = self.owner_path.with_name(self.owner_path.name + f".{os.getpid()}")
        partial.write_text(json.dumps(asdict(owner)), encoding="utf-8")
        partial.replace(self.owner_path)

    def owner(self) -> Owner | None:
        """The recorded owner; None when there is none or it cannot be read."""
        try:
            found = json.loads(self.owner_path.read_text(encoding="utf-8"))
            return Owner(
                server_pid=int(found["server_pid"]),
                parent_pid=int(found["parent_pid"]),
                port=int(found["port"]),
                started_at=str(found["started_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # Field 3 of /proc/<pid>/stat is the state; Z is a zombie waiting to be reaped.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def servers_on(storage_path: Path) -> list[int]:
    """Pids of SecantusDB processes serving these files, found by their command lines
    (Linux /proc; empty elsewhere). Catches servers that hold no lock: those started
    by a version of guildgraph from before the lock."""
    wanted = storage_path.resolve()
    found = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _serves(entry, wanted):
                found.append(int(entry.name))
    return found


def _serves(proc: Path, storage_path: Path) -> bool:
    try:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:
        return False
    if "secantus" not in argv or "--storage-path" not in argv:
        return False
    index = argv.index("--storage-path") + 1
    if index >= len(argv):
        return False
    return (cwd / argv[index]).resolve() == storage_path and alive(int(proc.name))
