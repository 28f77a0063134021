"""Sync workers: claim queued runs with leases in MongoDB and execute them."""

from __future__ import annotations

import asyncio


class WorkerHandle:
    """How request handlers reach this instance's worker (if it runs one)."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """A run was queued here: look now instead of at the next poll."""
        self._wake.set()
