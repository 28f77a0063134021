"""Sync control (admin): the run history query and the trigger/cancel mutations.

The run types are in `schema.admin.runs` (the admin port returns them).
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.admin.problems import SourceNotFound, SourceNotSyncable, SyncRunNotFound
from schema.admin.runs import RunSelection, SyncMode, SyncRun, SyncRunActive, SyncRunFilter
from schema.cache_control import ADMIN_ONLY
from schema.common import wants_total
from schema.context import Info
from schema.relay import Connection

TriggerSyncResult = Annotated[
    SyncRun | SourceNotFound | SourceNotSyncable | SyncRunActive,
    strawberry.union("TriggerSyncResult"),
]
CancelSyncResult = Annotated[SyncRun | SyncRunNotFound, strawberry.union("CancelSyncResult")]


@strawberry.type
class SyncRunQuery:
    @strawberry.field(description="Run history, newest first (admin)", directives=[ADMIN_ONLY])
    async def sync_runs(
        self,
        info: Info,
        filter: SyncRunFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SyncRun]:
        page = await info.context.admin.sync_runs(
            RunSelection.of(filter), first, after, wants_total(info)
        )
        now = info.context.now
        return Connection.from_page(page, lambda doc: SyncRun.from_doc(doc, now))

    @strawberry.field(
        description="One run by id; null when there is none (admin)", directives=[ADMIN_ONLY]
    )
    async def sync_run(self, info: Info, id: strawberry.ID) -> SyncRun | None:
        doc = await info.context.admin.sync_run(str(id))
        return SyncRun.from_doc(doc, info.context.now) if doc is not None else None


@strawberry.type
class SyncRunMutation:
    @strawberry.mutation(
        description="Queue a sync of a source and return the queued run at once (admin)"
    )
    async def trigger_sync(
        self, info: Info, source_id: str, mode: SyncMode = SyncMode.INCREMENTAL
    ) -> TriggerSyncResult:
        result = await info.context.admin.trigger_sync(source_id, mode)
        return SyncRun.from_doc(result, info.context.now) if isinstance(result, dict) else result

    @strawberry.mutation(
        description="Cancel a run: a queued one at once, a running one at its next "
        "checkpoint; a finished run is returned unchanged (admin)"
    )
    async def cancel_sync(self, info: Info, run_id: strawberry.ID) -> CancelSyncResult:
        result = await info.context.admin.cancel_sync(str(run_id))
        return SyncRun.from_doc(result, info.context.now) if isinstance(result, dict) else result
