"""Subscriptions: sync run progress and listing changes (issue 4)."""

from __future__ import annotations

from typing import Protocol

import strawberry


class LiveFeeds(Protocol):
    """Change feeds a subscription reads (MongoDB change streams in service/)."""


@strawberry.type
class LiveSubscription:
    pass
