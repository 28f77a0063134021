"""What the net tests share: SafeFetchers with small caps, loopback allowed and retry
waits recorded instead of slept, a fake DNS, and bodies to serve.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from tests.connectors.loopback import static


class RecordedWaits(list[float]):
    """Stands in for asyncio.sleep: remembers each retry wait and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(**overrides: Any) -> FetchPolicy:
    """Small caps so failures are quick; loopback 127.0.0.1 allowed (the test servers)."""
    settings: dict[str, Any] = {
        "allowed_networks": ["127.0.0.1/32"],
        "connect_timeout": 2,
        "read_timeout": 2,
        "total_timeout": 5,
        "max_attempts": 4,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "retry_after_cap": 0.2,
        "per_host_rate": None,
    }
    return FetchPolicy(**{**settings, **overrides})


def fetcher(
    waits: RecordedWaits | None = None,
    resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    **overrides: Any,
) -> SafeFetcher:
    sleep = waits if waits is not None else RecordedWaits()
    return SafeFetcher(policy(**overrides), sleep=sleep, resolve=resolve)


def resolver(names: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A DNS that knows only `names`; literal addresses resolve to themselves."""

    async def resolve(host: str, port: int) -> list[str]:
        return names.get(host, [host])

    return resolve


async def streamed_body(client: SafeFetcher, url: str) -> bytes:
    async with client.stream(url) as body:
        return b"".join([chunk async for chunk in body.chunks()])


def redirect(status: int, location: str) -> Callable[[Request], Response]:
    return static(b"", status=status, headers={"location": location})


def varied_text(size: int) -> bytes:
    line = b"Skolkovo, \xd0\xa1\xd0\xba\xd0\xbe\xd0\xbb\xd0\xba\xd0\xbe\xd0\xb2\xd0\xbe; "
    return b"".join(line + str(n).encode() + b"\n" for n in range(size // len(line)))
