"""The live port: `LiveFeeds`, the change feeds subscriptions read, and `LiveChange`,
one change as a feed reports it (`schema.live` maps it to `ListingChange`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schema.documents import CommunityView, EventView, RunDoc
from schema.enums import ListingChangeKind, ListingEntityType
from schema.inputs import ListingChangeFilter
from schema.ports.reads import DataAccess


@dataclass(frozen=True)
class LiveChange:
    """A change as the feed reports it: the document as it is now, in `community` or
    `event` by `entity` (neither for a withdrawal)."""

    change: ListingChangeKind
    entity: ListingEntityType
    entity_id: str
    at: datetime
    community: CommunityView | None = None
    event: EventView | None = None


class LiveFeeds(Protocol):
    """Change feeds a subscription reads (MongoDB change streams in service/).

    Each method checks its arguments and the caller before returning, so a refusal
    is the operation's error rather than a failed stream; the stream ends when the
    subscription does.
    """

    async def listing_changes(
        self, filter: ListingChangeFilter | None
    ) -> AsyncGenerator[LiveChange, None]: ...

    async def run_progress(self, run_id: str) -> AsyncGenerator[RunDoc, None]:
        """Admin only: the run document now, then each new state, until it ends."""
        ...

    def reader(self, now: datetime) -> DataAccess:
        """A fresh reader (with empty DataLoader caches) for one pushed item."""
        ...
