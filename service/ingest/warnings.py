"""Field warnings: a value a kept listing was stored without, and why.

A source may keep a record whose one field is unusable (a date 30.02.2021, a
website "нет") instead of refusing it (`FieldMapping.invalid_values`); the value is
left out and a warning says which field, what the source wrote and why, where
admins list it (`listingWarnings`).

Anything on the way in notes one with `record(source_id, external_id, field,
raw_value, message)`: a connector's `FieldWarning` (the sync engine records it), a
normalization step that cannot place a value (an unknown country name). It goes to
the collector of the work in progress (`collecting()`: a sync run, a reprocessing),
which stores each batch's warnings with the batch (`store`): they replace what was
stored for those listings, so a warning goes away once the source fixes the value.
Outside a collector (a partner's upsert) a warning is logged.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import DeleteOne, UpdateOne

from schema.documents import ListingWarningDoc
from service.storage.collections import LISTING_WARNINGS, Database
from service.storage.lookups import find_in

logger = logging.getLogger("guildgraph.ingest.warnings")

# A raw value is shown to admins, not kept whole: a cell can be a megabyte of text.
RAW_CHARS = 500


@dataclass(frozen=True)
class Recorded:
    """One warning as recorded (the stored form is `ListingWarningDoc`)."""

    source_id: str
    external_id: str
    field: str
    raw: Any
    message: str


@dataclass
class Collector:
    """The warnings recorded during one piece of work, until their batch is stored."""

    pending: list[Recorded] = field(default_factory=list)

    def take(self, source_id: str, external_ids: Collection[str]) -> list[Recorded]:
        """The warnings about these listings; the others stay pending."""
        keys = set(external_ids)
        taken = [w for w in self.pending if w.source_id == source_id and w.external_id in keys]
        self.pending = [
            w for w in self.pending if not (w.source_id == source_id and w.external_id in keys)
        ]
        return taken


_current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar(
    "guildgraph_warnings", default=None
)


def record(source_id: str, external_id: str, field: str, raw_value: Any, message: str) -> None:
    """Note that the listing (source, external id) is kept without `field`, and why."""
    warning = Recorded(source_id, external_id, field, _shown(raw_value), message)
    collector = _current.get()
    if collector is None:
        logger.warning(
            "%s %s: %s %r left out: %s", source_id, external_id, field, warning.raw, message
        )
        return
    collector.pending.append(warning)


@contextlib.contextmanager
def collecting() -> Iterator[Collector]:
    """Collect the warnings `record` notes in this task (and tasks it starts) here."""
    collector = Collector()
    token = _current.set(collector)
    try:
        yield collector
    finally:
        _current.reset(token)


def take(source_id: str, external_ids: Collection[str]) -> list[Recorded]:
    """The current collector's warnings about these listings (none outside a collector)."""
    collector = _current.get()
    return collector.take(source_id, external_ids) if collector is not None else []


def _shown(value: Any) -> Any:
    """The raw value as JSON an admin can read, long text cut."""
    if isinstance(value, str):
        return value if len(value) <= RAW_CHARS else value[:RAW_CHARS] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value[:50]]
    if isinstance(value, dict):
        return {str(k): _shown(v) for k, v in list(value.items())[:50]}
    return _shown(str(value))


async def store(
    db: Database, source_id: str, external_ids: Sequence[str], warnings: Sequence[Recorded]
) -> None:
    """Make these listings' stored warnings exactly `warnings` (writing only what changed:
    a source read again unchanged costs one read here and no write)."""
    if not external_ids:
        return
    wanted = {(w.external_id, w.field): w for w in warnings if w.source_id == source_id}
    stored = await find_in(
        db,
        LISTING_WARNINGS,
        "external_id",
        list(dict.fromkeys(external_ids)),
        {"external_id": 1, "field": 1, "raw": 1, "message": 1},
        where={"source_id": source_id},
    )
    operations: list[UpdateOne | DeleteOne] = []
    have: set[tuple[str, str]] = set()
    for doc in stored:
        key = (doc["external_id"], doc["field"])
        warning = wanted.get(key)
        if warning is None:
            operations.append(DeleteOne({"_id": doc["_id"]}))
        elif (doc.get("raw"), doc.get("message")) == (warning.raw, warning.message):
            have.add(key)
    now = datetime.now(UTC)
    for key, warning in wanted.items():
        if key in have:
            continue
        document: ListingWarningDoc = {
            "source_id": source_id,
            "external_id": warning.external_id,
            "field": warning.field,
            "raw": warning.raw,
            "message": warning.message,
            "recorded_at": now,
        }
        selection = {"source_id": source_id, "external_id": key[0], "field": key[1]}
        operations.append(UpdateOne(selection, {"$set": document}, upsert=True))
    if operations:
        await db[LISTING_WARNINGS].bulk_write(operations, ordered=False)


async def forget_source(db: Database, source_id: str) -> int:
    """Remove a deleted source's warnings; how many there were."""
    result = await db[LISTING_WARNINGS].delete_many({"source_id": source_id})
    return result.deleted_count
