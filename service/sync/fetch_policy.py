"""The outbound fetch policy every sync in this process uses, from settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from connectors.framework.contract import Fetcher
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.settings import Settings

FetcherFactory = Callable[[], AbstractAsyncContextManager[Fetcher]]


def fetch_policy(settings: Settings, extra_file_roots: Sequence[Path] = ()) -> FetchPolicy:
    """The settings' networks and file roots, plus roots the program itself ships."""
    roots = [*settings.fetch_file_roots, *extra_file_roots]
    return FetchPolicy(
        allowed_networks=settings.fetch_allowed_networks,
        allow_file_roots=[str(p.resolve()) for p in roots],
    )


def fetcher_factory(settings: Settings, extra_file_roots: Sequence[Path] = ()) -> FetcherFactory:
    policy = fetch_policy(settings, extra_file_roots)

    def open_fetcher() -> AbstractAsyncContextManager[Fetcher]:
        return SafeFetcher(policy)

    return open_fetcher
