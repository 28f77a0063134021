"""Sources (admin): the `Source` type and the source queries and mutations; its
inputs (`SourceInput`, `SourceUpdate`) are in `schema.inputs`, as the admin port takes them.

Sources are not `Node`s: `node(id)` is public and must not reveal them. A source's
`config` is given and shown as JSON; it is validated against the connector kind's
own model (see `connectorKinds.configSchema`), and every problem names its field
as `config.<path>`. Secret values (request headers, tap environment) are shown as
"**********"; sending that placeholder back in an update keeps the stored secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.admin.problems import (
    InvalidAdminInput,
    SourceHasListings,
    SourceNotFound,
)
from schema.admin.reports import SourceDeleted
from schema.admin.runs import SyncRun, SyncRunActive
from schema.cache_control import ADMIN_ONLY
from schema.context import Info
from schema.documents import SourceView
from schema.enums import SourceFamily
from schema.inputs import PRIORITY, SourceInput, SourceUpdate


@strawberry.type(description="A registered source: a connector and its schedule, or a partner")
class Source:
    id: strawberry.ID = strawberry.field(description="The source id chosen at registration")
    name: str
    family: SourceFamily
    kind: str = strawberry.field(description="Connector kind; 'push' for a partner source")
    config: JSON = strawberry.field(description="Connector configuration, secrets masked")
    schedule: str | None = strawberry.field(
        description="Cron expression in UTC (5 fields, or 6 with seconds last)"
    )
    next_run_at: datetime | None = strawberry.field(
        description="When the schedule next queues a run; null when unscheduled or disabled"
    )
    enabled: bool
    priority: int = strawberry.field(description=PRIORITY)
    field_priorities: JSON = strawberry.field(
        description="Per field (stored names), where this source ranks otherwise than `priority`"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: SourceView) -> Source:
        """A source as the admin service shows it (config masked, `next_run_at` added)."""
        return cls(
            id=strawberry.ID(doc["_id"]),
            name=doc["name"],
            family=SourceFamily(doc["family"]),
            kind=doc["kind"],
            config=JSON(doc.get("config") or {}),
            schedule=doc.get("schedule"),
            next_run_at=doc.get("next_run_at"),
            enabled=bool(doc.get("enabled", True)),
            priority=int(doc.get("priority", 100)),
            field_priorities=JSON(doc.get("field_priorities") or {}),
            created_at=doc["created_at"],
            updated_at=doc.get("updated_at") or doc["created_at"],
        )

    @strawberry.field(description="The source's newest run (queued, running or finished)")
    async def last_run(self, info: Info) -> SyncRun | None:
        doc = await info.context.admin.last_run(str(self.id))
        return SyncRun.from_doc(doc, info.context.now) if doc is not None else None


@strawberry.type(description="A connector kind a source can use")
class ConnectorKind:
    kind: str
    description: str
    config_schema: JSON = strawberry.field(description="JSON Schema of its `config`")
    example: JSON = strawberry.field(
        description="A source of this kind as `createSource` takes it (and `guildgraph "
        "sources add` as a file)"
    )


SourceResult = Annotated[
    Source | InvalidAdminInput | SourceNotFound, strawberry.union("SourceResult")
]
DeleteSourceResult = Annotated[
    SourceDeleted | SourceNotFound | SyncRunActive | SourceHasListings,
    strawberry.union("DeleteSourceResult"),
]


@strawberry.type
class SourceQuery:
    @strawberry.field(description="Every registered source, by id (admin)", directives=[ADMIN_ONLY])
    async def sources(self, info: Info) -> list[Source]:
        return [Source.from_doc(doc) for doc in await info.context.admin.sources()]

    @strawberry.field(
        description="One source; null when there is none (admin)", directives=[ADMIN_ONLY]
    )
    async def source(self, info: Info, id: strawberry.ID) -> Source | None:
        doc = await info.context.admin.source(str(id))
        return Source.from_doc(doc) if doc is not None else None

    @strawberry.field(
        description="The connector kinds and their configuration schemas (admin)",
        directives=[ADMIN_ONLY],
    )
    async def connector_kinds(self, info: Info) -> list[ConnectorKind]:
        return [
            ConnectorKind(
                kind=k.kind,
                description=k.description,
                config_schema=JSON(k.config_schema),
                example=JSON(k.example),
            )
            for k in await info.context.admin.connector_kinds()
        ]


@strawberry.type
class SourceMutation:
    @strawberry.mutation(description="Register a source (admin)")
    async def create_source(self, info: Info, input: SourceInput) -> SourceResult:
        result = await info.context.admin.create_source(input)
        return Source.from_doc(result) if isinstance(result, dict) else result

    @strawberry.mutation(
        description="Change some fields of a source; its sync state is kept (admin)"
    )
    async def update_source(
        self, info: Info, id: strawberry.ID, input: SourceUpdate
    ) -> SourceResult:
        result = await info.context.admin.update_source(str(id), input)
        return Source.from_doc(result) if isinstance(result, dict) else result

    @strawberry.mutation(description="Enable or disable a source's syncs and schedule (admin)")
    async def set_source_enabled(
        self, info: Info, id: strawberry.ID, enabled: bool
    ) -> SourceResult:
        result = await info.context.admin.set_source_enabled(str(id), enabled)
        return Source.from_doc(result) if isinstance(result, dict) else result

    @strawberry.mutation(
        description="Delete a source, its stored listings and its partner keys (admin). "
        "Refused while a run is active, and while it still has applied listings unless "
        "`withdrawListings` is true: they are withdrawn first (an entity no other source "
        "supports leaves the API). Run history is kept."
    )
    async def delete_source(
        self, info: Info, id: strawberry.ID, withdraw_listings: bool = False
    ) -> DeleteSourceResult:
        return await info.context.admin.delete_source(str(id), withdraw_listings)
