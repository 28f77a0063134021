"""The outbound HTTP client connectors read through: `SafeFetcher`, set up by `FetchPolicy`.

Every failure leaves as one of connectors.framework.errors:

- RetriableError, once `max_attempts` are used up (GET and stream only; POST is never
  retried): 408, 429, 5xx, connection errors, timeouts, a body cut short (fewer bytes
  than its Content-Length, a chunked body without its last chunk, a compressed body
  without its end) or stalled (read_timeout of silence after the headers or mid-body).
- FatalError: 4xx other than 408/429 (401/403 say "auth"), a refused address, scheme
  or file, a redirect loop or too many redirects, a body over `max_body_bytes`, a
  corrupt compressed body, a content-encoding we did not ask for.

A streamed body is retried the same way until its first chunk is handed to the
caller: `stream()` waits for that chunk inside the attempt, so a body that fails to
arrive at all costs a retry, not the run. Once chunks have been handed on, a retry
would hand them on again (a parser cannot take them back), so a failure after that is
not retried here: it is a RetriableError saying how many bytes were handed on, and the
sync engine fails the run, which keeps its last checkpoint for the next run.

The pieces it is made of live beside it: `policy` (its settings), `address_guard`
(where it may connect), `pacing` (per-host limits, time budgets, retry backoff),
`failures` (what an error means), `redirects`, `decoding` (bodies decoded in bounded
pieces, truncated gzip retriable, corrupt gzip fatal) and `local_files`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from connectors.framework.conditional import Validators
from connectors.framework.contract import Fetched, StreamedBody
from connectors.framework.errors import FatalError, RetriableError
from connectors.net.address_guard import AddressGuard, GuardedTransport, Resolver
from connectors.net.decoding import Identity, SizeCap, decoder_for
from connectors.net.failures import classified, raise_for_status
from connectors.net.local_files import local_path, local_pieces, read_local, stat_local
from connectors.net.pacing import HostGate, TimeBudget, wait_before_retry
from connectors.net.policy import FetchPolicy
from connectors.net.redirects import Request, redirect_target, redirected

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass
class _Body:
    """A `StreamedBody`: decoded pieces, readable once."""

    url: str
    status: int
    headers: Mapping[str, str]
    pieces: AsyncGenerator[bytes, None]
    taken: bool = field(default=False, repr=False)

    def chunks(self) -> AsyncIterator[bytes]:
        if self.taken:
            raise RuntimeError("a streamed body can be read only once")
        self.taken = True
        return self.pieces


async def _no_pieces() -> AsyncGenerator[bytes, None]:
    return
    yield  # pragma: no cover - makes this an async generator


@dataclass
class _Opened:
    """A final response, body unread, with what must be closed after it (its host slot)."""

    resources: AsyncExitStack
    response: httpx.Response
    budget: TimeBudget


async def _handed_on(
    first: bytes | None, rest: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    """`first`, then the rest of a body; a failure in the rest says what was handed on."""
    if first is None:
        return
    yield first
    handed = len(first)
    while True:
        try:
            piece = await anext(rest, None)
        except RetriableError as error:
            raise RetriableError(
                f"{error} after {handed} bytes were handed on; not retried, since a retry "
                "would hand them on again: the run fails and keeps its checkpoint",
                retry_after=error.retry_after,
            ) from error
        if piece is None:
            return
        yield piece
        handed += len(piece)


class SafeFetcher:
    """The `Fetcher` connectors read through: bounded, retried, and kept off internal addresses.

    One shared httpx client; open it for the lifetime of the app or a sync worker::

        async with SafeFetcher(FetchPolicy(per_host_rate=2)) as fetcher:
            fetched = await fetcher.get(url, etag=state.get("etag"))

    `sleep` is how retry waits are spent (tests pass a recorder); `resolve` replaces the
    system resolver (tests map names to loopback addresses); `ssl_context` replaces the
    default trust store (a private CA).

    Redirects are followed here, one checked hop at a time, and credentials are dropped
    when a redirect leaves the origin. A stream holds its host's concurrency slot until
    its block ends, so do not open a second stream to the same host inside it when
    per_host_concurrency is 1. When retries run out, RetriableError.retry_after is the
    source's own last hint, uncapped, for the engine to schedule the next run by.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        resolve: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._guard = AddressGuard(self.policy.allowed_networks, resolve)
        self._gate = HostGate(self.policy.per_host_concurrency, self.policy.per_host_rate)
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(self._guard, ssl_context=ssl_context),
            follow_redirects=False,
            trust_env=False,  # no proxies or netrc from the environment: they bypass the guard
            timeout=httpx.Timeout(
                connect=self.policy.connect_timeout,
                read=self.policy.read_timeout,
                write=self.policy.read_timeout,
                pool=self.policy.connect_timeout,
            ),
            headers={"user-agent": self.policy.user_agent, "accept-encoding": "gzip, deflate"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        asked = Validators(etag, last_modified)
        path = local_path(url, self.policy)
        if path is not None:
            return await self._get_file(path, asked)
        request = Request("GET", url, asked.request_headers(headers))
        return await self._retrying(url, lambda: self._fetch_once(request))

    async def post_json(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """One POST, never retried: the source may have acted on it already."""
        if local_path(url, self.policy) is not None:
            raise FatalError(f"{url}: cannot POST to a local file")
        return await self._fetch_once(Request("POST", url, dict(headers or {}), payload))

    @asynccontextmanager
    async def stream(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamedBody]:
        """Open a body to read in chunks, retried until its first chunk has arrived.

        Once chunks have been handed out a retry would repeat them, so a failure after
        that raises RetriableError for the engine to retry the whole run (see the
        module docstring).
        """
        asked = Validators(etag, last_modified)
        path = local_path(url, self.policy)
        async with AsyncExitStack() as resources:
            if path is not None:
                body = await self._stream_file(path, asked)
            else:
                request = Request("GET", url, asked.request_headers(headers))
                opened, body = await self._retrying(url, lambda: self._open_body(request))
                resources.push_async_exit(opened.resources)
            # Registered last, so it runs first: the generator stops before the response closes.
            resources.push_async_callback(body.pieces.aclose)
            yield body

    # -- HTTP ------------------------------------------------------------------------

    async def _retrying(self, url: str, attempt: Callable[[], Awaitable[T]]) -> T:
        number = 1
        while True:
            try:
                return await attempt()
            except RetriableError as exc:
                if number >= self.policy.max_attempts:
                    raise RetriableError(
                        f"{exc} (gave up after {number} attempts)", retry_after=exc.retry_after
                    ) from exc
                wait = wait_before_retry(self.policy, number, exc.retry_after)
                logger.info("retrying %s in %.2fs after attempt %d: %s", url, wait, number, exc)
            await self._sleep(wait)
            number += 1

    async def _fetch_once(self, request: Request) -> Fetched:
        opened = await self._open_checked(request)
        async with opened.resources:
            response = opened.response
            body = bytearray()
            if response.status_code != 304:
                async with aclosing(self._decoded(response, opened.budget)) as pieces:
                    async for piece in pieces:
                        body += piece
            return Fetched(str(response.url), response.status_code, bytes(body), _headers(response))

    async def _open_checked(self, request: Request) -> _Opened:
        """Send `request` (redirects followed); the final response must be usable."""
        budget = TimeBudget(self.policy.total_timeout)
        async with AsyncExitStack() as attempt:
            with classified(request.url):
                response = await self._follow_redirects(attempt, request, budget)
            raise_for_status(response)
            return _Opened(attempt.pop_all(), response, budget)

    async def _follow_redirects(
        self, owner: AsyncExitStack, request: Request, budget: TimeBudget
    ) -> httpx.Response:
        """Send hop after hop, each one checked; `owner` keeps the final response open."""
        visited: set[str] = set()
        for _ in range(self.policy.max_redirects + 1):
            visited.add(request.url)
            async with AsyncExitStack() as hop:
                response = await self._send(hop, request, budget)
                target = redirect_target(response)
                if target is None:
                    owner.push_async_exit(hop.pop_all())
                    return response
            request = redirected(request, response.status_code, target, visited)
        raise FatalError(f"{request.url}: more than max_redirects={self.policy.max_redirects}")

    async def _send(
        self, hop: AsyncExitStack, request: Request, budget: TimeBudget
    ) -> httpx.Response:
        url = httpx.URL(request.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise FatalError(f"{request.url}: only http(s) URLs are fetched")
        # A literal address is refused before any connection; names are resolved and
        # checked by the transport when it connects, so the checked address is used.
        self._guard.check_literal(url.host)
        await hop.enter_async_context(self._gate.slot(url.host))
        outgoing = self._client.build_request(
            request.method, url, headers=request.headers, json=request.json
        )
        async with budget.charge():
            response = await self._client.send(outgoing, stream=True)
        hop.push_async_callback(response.aclose)
        return response

    async def _decoded(
        self, response: httpx.Response, budget: TimeBudget
    ) -> AsyncGenerator[bytes, None]:
        url = str(response.url)
        decoder = decoder_for(response.headers.get("content-encoding"), url)
        cap = SizeCap(self.policy.max_body_bytes, url)
        if isinstance(decoder, Identity):
            cap.refuse_declared(response.headers.get("content-length"))
        with classified(url):
            # aiter_raw is an async generator; closing it promptly releases the read.
            raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
            async with aclosing(raw):
                while (chunk := await budget.next_chunk(raw)) is not None:
                    for piece in decoder.feed(chunk):
                        cap.add(len(piece))
                        yield piece
            decoder.finish()

    async def _open_body(self, request: Request) -> tuple[_Opened, _Body]:
        """Open `request` and wait for the body's first decoded chunk, in one attempt."""
        opened = await self._open_checked(request)
        response = opened.response
        url, status, headers = str(response.url), response.status_code, _headers(response)
        if status == 304:
            return opened, _Body(url, status, headers, _no_pieces())
        decoded = self._decoded(response, opened.budget)
        # Closed before the response, as the body's reader must stop first.
        opened.resources.push_async_callback(decoded.aclose)
        try:
            first = await anext(decoded, None)
        except BaseException:
            await opened.resources.aclose()  # this attempt's response and host slot
            raise
        return opened, _Body(url, status, headers, _handed_on(first, decoded))

    # -- local files -----------------------------------------------------------------

    async def _get_file(self, path: Path, asked: Validators) -> Fetched:
        local = await asyncio.to_thread(stat_local, path, self.policy)
        if local.unchanged(asked):
            return Fetched(local.url, 304, b"", local.headers)
        body = await asyncio.to_thread(read_local, local, self.policy.max_body_bytes)
        return Fetched(local.url, 200, body, local.headers)

    async def _stream_file(self, path: Path, asked: Validators) -> _Body:
        local = await asyncio.to_thread(stat_local, path, self.policy)
        if local.unchanged(asked):
            return _Body(local.url, 304, local.headers, _no_pieces())
        pieces = local_pieces(local, self.policy.max_body_bytes)
        return _Body(local.url, 200, local.headers, pieces)


def _headers(response: httpx.Response) -> dict[str, str]:
    return dict(response.headers)  # httpx lower-cases names and joins repeated ones
