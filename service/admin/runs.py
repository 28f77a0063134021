"""Admin work on sync runs: trigger, cancel, and the run history with keyset paging.

History is newest first on (created_at, _id) (service.storage.keyset): "after" a
cursor is a range on `created_at` (answered by the `{created_at}` or `{source_id,
created_at}` index) with the `_id` tie-break applied to that range only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from schema.admin.problems import SourceNotFound, SourceNotSyncable, SyncRunNotFound
from schema.admin.runs import RunSelection, SyncMode, SyncRun, SyncRunActive
from schema.documents import RunDoc
from schema.errors import UserInputError
from schema.relay import Page, PageRequest
from service.storage import stored
from service.storage.collections import SOURCES, SYNC_RUNS, Database
from service.storage.keyset import Ordering, SortKey
from service.sync.runs import Mode, RunActive, active_run, enqueue_run, get_run, request_cancel
from service.sync.sources import SourceError
from service.sync.worker import WorkerHandle

# Newest first; `_id` breaks ties between runs created in the same millisecond.
HISTORY = Ordering("runs", (SortKey("created_at", -1, datetime), SortKey("_id", -1, ObjectId)))
API_TRIGGER = "api"


def run_id_of(value: str, argument: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise UserInputError(f"'{argument}' is not a run id", argument=argument) from None


def run_active(source_id: str, run: RunDoc) -> SyncRunActive:
    return SyncRunActive(
        message=f"source {source_id!r} already has an active run: {run['_id']} ({run['status']})",
        active_run=SyncRun.from_doc(run),
    )


async def trigger(
    db: Database, worker: WorkerHandle, source_id: str, mode: SyncMode
) -> RunDoc | SourceNotFound | SourceNotSyncable | SyncRunActive:
    if await db[SOURCES].find_one({"_id": source_id}, {"_id": 1}) is None:
        return SourceNotFound.of(source_id)
    # Twice at most: the active run we collided with may end before we read it.
    for _ in range(2):
        try:
            run = await enqueue_run(db, source_id, Mode(mode.value), API_TRIGGER)
        except RunActive:
            active = await active_run(db, source_id)
            if active is not None:
                return run_active(source_id, active)
            continue
        except SourceError as error:  # a partner source, or a disabled one
            return SourceNotSyncable(message=str(error), source_id=source_id)
        worker.notify()
        return run
    raise RuntimeError(f"could not queue a run of {source_id!r}: runs keep colliding")


async def cancel(db: Database, run_id: str) -> RunDoc | SyncRunNotFound:
    run = await request_cancel(db, run_id_of(run_id, "runId"))
    if run is None:
        return SyncRunNotFound(message=f"no run {run_id!r}", run_id=run_id)
    return run


async def get(db: Database, run_id: str) -> RunDoc | None:
    return await get_run(db, run_id_of(run_id, "id"))


async def last_runs(db: Database, source_ids: Sequence[str]) -> list[RunDoc | None]:
    """Each source's newest run: one indexed read per source, sent together."""
    runs = db[SYNC_RUNS]
    found = await asyncio.gather(
        *(
            runs.find_one({"source_id": source_id}, sort=[("created_at", -1), ("_id", -1)])
            for source_id in source_ids
        )
    )
    return [stored.run.one(doc) for doc in found]


def _selection(selection: RunSelection) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if selection.sources is not None:
        match["source_id"] = {"$in": list(selection.sources)}
    if selection.statuses is not None:
        match["status"] = {"$in": list(selection.statuses)}
    created: dict[str, datetime] = {}
    if selection.created_from is not None:
        created["$gte"] = selection.created_from
    if selection.created_to is not None:
        created["$lt"] = selection.created_to
    if created:
        match["created_at"] = created
    return match


async def history(
    db: Database, selection: RunSelection, page: PageRequest, with_total: bool
) -> Page[RunDoc]:
    match = _selection(selection)
    position = HISTORY.position(page)
    clauses = [match] if match else []
    if position is not None:
        clauses.append(HISTORY.after(position))
    query = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else {})
    docs = await db[SYNC_RUNS].find(query).sort(HISTORY.fields()).limit(page.size + 1).to_list()
    total = await db[SYNC_RUNS].count_documents(match) if with_total else None
    return HISTORY.page(stored.run.all(docs), page, total)
