"""The outbound fetch policy every sync in this process uses, from settings."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from connectors.framework.contract import Fetcher
from connectors.net.fetcher import FetchPolicy, SafeFetcher
from service.demo.sources import demo_sources_dir
from service.settings import Settings

FetcherFactory = Callable[[], AbstractAsyncContextManager[Fetcher]]


def fetch_policy(settings: Settings) -> FetchPolicy:
    # The bundled demo files are always readable, so the demo sources can be synced
    # again from the admin API like any other source.
    roots = [*settings.fetch_file_roots, demo_sources_dir()]
    return FetchPolicy(
        allowed_networks=settings.fetch_allowed_networks,
        allow_file_roots=[str(p.resolve()) for p in roots],
    )


def fetcher_factory(settings: Settings) -> FetcherFactory:
    def open_fetcher() -> AbstractAsyncContextManager[Fetcher]:
        return SafeFetcher(fetch_policy(settings))

    return open_fetcher
