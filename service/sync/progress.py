"""A run's live progress: counts, pages, bytes and rate, as watchers see them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from schema.documents import RunError
from service.sync.runs import (
    Counts,
)

# A run keeps this many error messages: enough to see a pattern, bounded in size.
ERROR_SAMPLE = 20


@dataclass
class Progress:
    """What a watcher sees while a run goes on."""

    run_id: str
    counts: Counts = field(default_factory=Counts)
    checkpoints: int = 0
    pages: int = 0
    bytes: int = 0
    estimated_total: int | None = None
    started: float = field(default_factory=time.monotonic)
    errors: list[RunError] = field(default_factory=list)
    # A sample of the records passed over on purpose (their number is counts.skipped).
    skipped: list[RunError] = field(default_factory=list)
    # Set when the run does something else than it was asked to, and why (a full pass
    # after a change of the source's configuration).
    mode: str | None = None
    note: str | None = None

    @property
    def records_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.counts.fetched / elapsed if elapsed > 0 else 0.0

    def error(self, where: str, message: str) -> None:
        if len(self.errors) < ERROR_SAMPLE:
            self.errors.append({"where": where, "message": message[:500]})

    def skip(self, where: str, message: str) -> None:
        self.counts.skipped += 1
        if len(self.skipped) < ERROR_SAMPLE:
            self.skipped.append({"where": where, "message": message[:500]})

    def fields(self) -> dict[str, Any]:
        """The run record's progress fields, as a `$set` on its RunDoc."""
        return {
            "counts": self.counts.document(),
            "checkpoints": self.checkpoints,
            "errors": self.errors,
            "skipped": self.skipped,
            "progress.pages": self.pages,
            "progress.bytes": self.bytes,
            "progress.records_per_s": round(self.records_per_s, 1),
            "progress.estimated_total": self.estimated_total,
            **({"mode": self.mode} if self.mode is not None else {}),
            **({"note": self.note} if self.note is not None else {}),
        }
