"""Admin queries and mutations: sources, runs, rejected listings (issue 4)."""

from __future__ import annotations

from typing import Protocol

import strawberry


class AdminOps(Protocol):
    """Everything an admin key may do; every method refuses other callers."""


@strawberry.type
class AdminQuery:
    pass


@strawberry.type
class AdminMutation:
    pass
