"""Partner writes: `upsertListings` and `withdrawListings` (filled in by issue 4)."""

from __future__ import annotations

from typing import Protocol

import strawberry


class PartnerWrites(Protocol):
    """Writes of the calling partner's own listings (bound to its source)."""


@strawberry.type
class PartnerMutation:
    pass
