"""Subscriptions: listing changes (public) and sync run progress (admins).

Served over `graphql-transport-ws` at `/graphql`; the feeds come from MongoDB
change streams (service.live.service), so a write made through any instance reaches the
subscribers of every instance. The feeds' contract is `schema.ports.live.LiveFeeds`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated

import strawberry

from schema.admin.runs import SyncRun
from schema.community import Community
from schema.context import Info
from schema.documents import RunDoc
from schema.enums import ListingChangeKind, ListingEntityType
from schema.event import Event
from schema.inputs import ListingChangeFilter
from schema.ports.live import LiveChange
from schema.relay import to_global_id

ListingEntity = Annotated[
    Community | Event,
    strawberry.union("ListingEntity", description="A community or an event"),
]


@strawberry.type(description="A community or event was created, updated or withdrawn")
class ListingChange:
    change: ListingChangeKind
    entity_type: ListingEntityType
    id: strawberry.ID = strawberry.field(description="Global id of the community or event")
    at: datetime
    entity: ListingEntity | None = strawberry.field(
        description="The entity as it is now; null when withdrawn"
    )

    @classmethod
    def of(cls, item: LiveChange) -> ListingChange:
        entity: Community | Event | None = None
        if item.community is not None:
            entity = Community.from_doc(item.community)
        elif item.event is not None:
            entity = Event.from_doc(item.event)
        type_name = "Community" if item.entity is ListingEntityType.COMMUNITY else "Event"
        return cls(
            change=item.change,
            entity_type=item.entity,
            id=strawberry.ID(to_global_id(type_name, item.entity_id)),
            at=item.at,
            entity=entity,
        )


def _fresh_reads(info: Info) -> datetime:
    # A socket's context lives as long as the socket, and its DataLoaders cache per
    # context: each pushed item gets a fresh reader so nested fields are current.
    now = datetime.now(UTC)
    info.context.now = now
    info.context.data = info.context.live.reader(now)
    return now


async def _listing_changes(
    info: Info, feed: AsyncGenerator[LiveChange, None]
) -> AsyncGenerator[ListingChange, None]:
    async with contextlib.aclosing(feed):
        async for item in feed:
            _fresh_reads(info)
            yield ListingChange.of(item)


async def _run_progress(
    info: Info, feed: AsyncGenerator[RunDoc, None]
) -> AsyncGenerator[SyncRun, None]:
    async with contextlib.aclosing(feed):
        async for doc in feed:
            yield SyncRun.from_doc(doc, _fresh_reads(info))


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Communities and events as they are created, updated and withdrawn "
        "(from now on; no history). Public."
    )
    async def listing_changes(
        self, info: Info, filter: ListingChangeFilter | None = None
    ) -> AsyncGenerator[ListingChange, None]:
        feed = await info.context.live.listing_changes(filter)
        return _listing_changes(info, feed)

    @strawberry.subscription(
        description="Admin only: the run's current state, then every change until it "
        "ends (succeeded, partially succeeded, failed or cancelled)"
    )
    async def sync_run_progress(
        self, info: Info, run_id: strawberry.ID
    ) -> AsyncGenerator[SyncRun, None]:
        feed = await info.context.live.run_progress(str(run_id))
        return _run_progress(info, feed)
