"""An exclusive lock on a file, held by a process (and whoever inherits its descriptor).

`flock` locks belong to the open file description: the kernel releases them when the
last process holding the descriptor exits, however it exits. That is what makes them
fit for "one of these per host / per directory" roles: nothing is left behind by a
killed holder.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int:
        """The locked descriptor (a child given it keeps the lock held)."""
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not held")
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if no live process holds it; never waits."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
