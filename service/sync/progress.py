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

    @property
    def records_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.counts.fetched / elapsed if elapsed > 0 else 0.0

    def error(self, where: str, message: str) -> None:
        if len(self.errors) < ERROR_SAMPLE:
            self.errors.append({"where": where, "message": message[:500]})

    def fields(self) -> dict[str, Any]:
        """The run record's progress fields, as a `$set` on its RunDoc."""
        return {
            "counts": self.counts.document(),
            "checkpoints": self.checkpoints,
            "errors": self.errors,
            "progress.pages": self.pages,
            "progress.bytes": self.bytes,
            "progress.records_per_s": round(self.records_per_s, 1),
            "progress.estimated_total": self.estimated_total,
        }
