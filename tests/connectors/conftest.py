"""What every connector test over loopback HTTP shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    """The real fetcher, allowed to reach the tests' loopback servers, unpaced."""
    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with SafeFetcher(policy) as safe:
        yield safe
