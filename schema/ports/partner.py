"""The partner port: `PartnerWrites`, a partner's writes of its own listings, and
the per-item results it returns (the mutations in `schema.partner` map them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schema.enums import EntityType, ListingOutcome, WithdrawOutcome
from schema.listing_input import ItemError, ListingInput


@dataclass(frozen=True)
class UpsertedItem:
    index: int
    external_id: str
    entity: EntityType | None
    outcome: ListingOutcome
    entity_id: str | None = None
    errors: tuple[ItemError, ...] = ()


@dataclass(frozen=True)
class WithdrawnItem:
    index: int
    external_id: str
    outcome: WithdrawOutcome


class PartnerWrites(Protocol):
    """Writes of the calling partner's own listings (bound to its source).

    Every method refuses a caller that is not a partner with `AccessDenied`.
    """

    async def upsert_listings(
        self, listings: Sequence[ListingInput], idempotency_key: str | None
    ) -> list[UpsertedItem]:
        """One result per listing, in order; with a key, a retry replays the first."""
        ...

    async def withdraw_listings(self, external_ids: Sequence[str]) -> list[WithdrawnItem]:
        """One result per id, in order; ids of other sources are simply not found."""
        ...
