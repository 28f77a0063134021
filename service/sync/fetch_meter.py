"""Counts what a run fetched (pages and bytes) for its progress, around any Fetcher."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectors.framework.contract import Fetched, Fetcher, StreamedBody


class _Metered:
    def __init__(self, inner: StreamedBody, meter: MeteredFetcher) -> None:
        self.inner = inner
        self.meter = meter
        self.url = inner.url
        self.status = inner.status
        self.headers = inner.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner.chunks():
            self.meter.bytes += len(chunk)
            yield chunk


class MeteredFetcher:
    """A Fetcher that counts responses (`pages`) and body bytes as they arrive."""

    def __init__(self, inner: Fetcher) -> None:
        self._inner = inner
        self.pages = 0
        self.bytes = 0

    def _count(self, fetched: Fetched) -> Fetched:
        self.pages += 1
        self.bytes += len(fetched.body)
        return fetched

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        return self._count(
            await self._inner.get(url, etag=etag, last_modified=last_modified, headers=headers)
        )

    async def post_json(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        return self._count(await self._inner.post_json(url, payload, headers=headers))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamedBody]:
        async with self._inner.stream(
            url, etag=etag, last_modified=last_modified, headers=headers
        ) as body:
            self.pages += 1
            yield _Metered(body, self)
