"""The outbound HTTP client connectors read through: `SafeFetcher`, set up by `FetchPolicy`.

Every failure leaves as one of connectors.framework.errors:

- RetriableError, once `max_attempts` are used up (GET and stream only; POST is never
  retried): 408, 429, 5xx, connection errors, timeouts, a body cut short.
- FatalError: 4xx other than 408/429 (401/403 say "auth"), a refused address, scheme
  or file, a redirect loop or too many redirects, a body over `max_body_bytes`, a
  corrupt compressed body, a content-encoding we did not ask for.

Truncated gzip is retriable, corrupt gzip is fatal. A gzip stream that ends before its
end-of-stream marker is a body cut short: the usual cause is a transfer that stopped
early where HTTP framing could not tell (a close-delimited body, a proxy that gave up),
and a later attempt may well get it whole. Bytes that fail to inflate are a document
the source really serves that way; asking again returns the same bytes.

Bodies are decoded here rather than by httpx: httpx inflates a whole network read in
one call, so a 64 KiB read of a gzip bomb becomes ~64 MiB before anyone can count it
(measured: +133 MiB peak RSS for a 200 MiB bomb). `_Inflater` produces at most
`_PIECE` bytes per call, so memory stays bounded whatever the compression ratio.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
import stat
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator

from connectors.framework.contract import Fetched, StreamedBody
from connectors.framework.errors import FatalError, RetriableError
from connectors.net.address_guard import AddressGuard, GuardedTransport, Resolver, path_under_roots

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

MiB = 1024 * 1024
_PIECE = 64 * 1024  # the largest decoded chunk handed out, and the file read size
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_OR_GZIP_WBITS = zlib.MAX_WBITS | 32  # HTTP "deflate" is the zlib format

logger = logging.getLogger(__name__)


class FetchPolicy(BaseModel):
    """How careful a `SafeFetcher` is; the defaults suit public sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: float = Field(10.0, gt=0, description="seconds to resolve and connect")
    read_timeout: float = Field(30.0, gt=0, description="seconds of silence between reads")
    total_timeout: float = Field(
        120.0, gt=0, description="seconds one attempt may spend waiting on the source"
    )
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base: float = Field(0.5, ge=0, description="first retry waits up to this")
    backoff_cap: float = Field(30.0, ge=0, description="no backoff waits longer")
    retry_after_cap: float = Field(60.0, ge=0, description="a Retry-After is obeyed up to this")
    per_host_concurrency: int = Field(4, ge=1)
    per_host_rate: float | None = Field(
        5.0, gt=0, description="requests/s per host, bursts of per_host_concurrency; None: off"
    )
    max_body_bytes: int = Field(50 * MiB, gt=0, description="cap on a decoded body")
    max_redirects: int = Field(5, ge=0)
    allowed_networks: tuple[IPvAnyNetwork, ...] = Field(
        (), description="private/loopback networks that may be reached anyway"
    )
    allow_file_roots: tuple[Path, ...] = Field(
        (), description="directories file:// URLs and plain paths may read (admin-marked local)"
    )
    user_agent: str = "guildgraph-connector/0.1"

    @field_validator("allow_file_roots")
    @classmethod
    def _roots_are_absolute(cls, roots: tuple[Path, ...]) -> tuple[Path, ...]:
        relative = [str(root) for root in roots if not root.is_absolute()]
        if relative:
            raise ValueError(f"must be absolute paths: {relative}")
        return roots


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` value asks for (delay-seconds or an HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up; a reservation never spins."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token and return how long to wait before using it (0: now).

        Tokens may go below zero: each waiter queues behind the ones already reserved.
        """
        now = self._clock()
        elapsed = now - self._updated
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now
        self._tokens -= 1
        return max(0.0, -self._tokens / self._rate)


class _HostGate:
    """Per-host concurrency and rate limits; one busy host never slows another."""

    def __init__(self, concurrency: int, rate: float | None) -> None:
        self._concurrency = concurrency
        self._rate = rate
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        if host not in self._semaphores:
            self._semaphores[host] = asyncio.Semaphore(self._concurrency)
        async with self._semaphores[host]:
            await self._pace(host)
            yield

    async def _pace(self, host: str) -> None:
        if self._rate is None:
            return
        if host not in self._buckets:
            self._buckets[host] = TokenBucket(self._rate, self._concurrency)
        wait = self._buckets[host].reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class _Budget:
    """The `total_timeout` of one attempt, spent only while waiting on the source.

    A stream's consumer may take its time between chunks; that time is not charged.
    """

    def __init__(self, seconds: float) -> None:
        self._left = seconds

    @asynccontextmanager
    async def charge(self) -> AsyncIterator[None]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._left):
                yield
        finally:
            self._left -= time.monotonic() - started

    async def next_chunk(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        async with self.charge():
            return await anext(chunks, None)


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> None: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> None:
        return None


class _Inflater:
    """Inflates gzip/zlib data in pieces of at most `_PIECE` bytes."""

    def __init__(self, wbits: int, url: str) -> None:
        self._wbits = wbits
        self._url = url
        self._inflate = zlib.decompressobj(wbits)
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        try:
            yield from self._pieces(data)
        except zlib.error as exc:
            raise FatalError(f"{self._url}: corrupt compressed body ({exc})") from exc

    def _pieces(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._inflate.eof and data:  # gzip allows several members back to back
                self._inflate = zlib.decompressobj(self._wbits)
            piece = self._inflate.decompress(data, _PIECE)
            if piece:
                yield piece
            if self._inflate.eof:
                data = self._inflate.unused_data
                if not data:
                    return
                continue
            data = self._inflate.unconsumed_tail
            # A full piece may leave output pending inside zlib even with no input left.
            if not data and len(piece) < _PIECE:
                return

    def finish(self) -> None:
        if self._fed and not self._inflate.eof:
            raise RetriableError(f"{self._url}: compressed body cut short (no end of stream)")


def _decoder_for(content_encoding: str | None, url: str) -> _Decoder:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return _Identity()
    if codings in (["gzip"], ["x-gzip"]):
        return _Inflater(_GZIP_WBITS, url)
    if codings == ["deflate"]:
        return _Inflater(_ZLIB_OR_GZIP_WBITS, url)
    raise FatalError(f"{url}: unsupported content-encoding {content_encoding!r}")


class _SizeCap:
    def __init__(self, limit: int, url: str) -> None:
        self._limit = limit
        self._url = url
        self._seen = 0

    def add(self, size: int) -> None:
        self._seen += size
        if self._seen > self._limit:
            raise FatalError(f"{self._url}: body larger than max_body_bytes={self._limit}")

    def refuse_declared(self, content_length: str | None) -> None:
        """Refuse before reading when an uncompressed body announces it is too large."""
        if content_length and content_length.isdigit() and int(content_length) > self._limit:
            raise FatalError(
                f"{self._url}: body of {content_length} bytes is over max_body_bytes={self._limit}"
            )


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


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any] | None = None


@dataclass
class _Opened:
    """A final response, body unread, with what must be closed after it (its host slot)."""

    resources: AsyncExitStack
    response: httpx.Response
    budget: _Budget


@dataclass(frozen=True)
class _LocalFile:
    path: Path
    size: int
    etag: str
    last_modified: str

    @property
    def url(self) -> str:
        return self.path.as_uri()

    @property
    def headers(self) -> dict[str, str]:
        return {"etag": self.etag, "last-modified": self.last_modified}

    def unchanged(self, etag: str | None, last_modified: str | None) -> bool:
        return etag == self.etag or last_modified == self.last_modified


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
        self._gate = _HostGate(self.policy.per_host_concurrency, self.policy.per_host_rate)
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
        path = self._local_path(url)
        if path is not None:
            return await self._get_file(path, etag, last_modified)
        request = _Request("GET", url, _conditional(headers, etag, last_modified))
        return await self._retrying(url, lambda: self._fetch_once(request))

    async def post_json(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """One POST, never retried: the source may have acted on it already."""
        if self._local_path(url) is not None:
            raise FatalError(f"{url}: cannot POST to a local file")
        return await self._fetch_once(_Request("POST", url, dict(headers or {}), payload))

    @asynccontextmanager
    async def stream(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamedBody]:
        """Open a body to read in chunks; opening is retried, a failure mid-body is not.

        Once chunks have been handed out a retry would repeat them, so a body cut short
        raises RetriableError for the engine to retry the whole run.
        """
        path = self._local_path(url)
        async with AsyncExitStack() as resources:
            if path is not None:
                body = await self._stream_file(path, etag, last_modified)
            else:
                request = _Request("GET", url, _conditional(headers, etag, last_modified))
                opened = await self._retrying(url, lambda: self._open_checked(request))
                resources.push_async_exit(opened.resources)
                body = self._body_of(opened)
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
                wait = self._wait_before_retry(number, exc.retry_after)
                logger.info("retrying %s in %.2fs after attempt %d: %s", url, wait, number, exc)
            await self._sleep(wait)
            number += 1

    def _wait_before_retry(self, failed_attempts: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, but never less than the source's Retry-After."""
        policy = self.policy
        ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (failed_attempts - 1))
        wait = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
        if retry_after is not None:
            wait = max(wait, min(retry_after, policy.retry_after_cap))
        return wait

    async def _fetch_once(self, request: _Request) -> Fetched:
        opened = await self._open_checked(request)
        async with opened.resources:
            response = opened.response
            body = bytearray()
            if response.status_code != 304:
                async with aclosing(self._decoded(response, opened.budget)) as pieces:
                    async for piece in pieces:
                        body += piece
            return Fetched(str(response.url), response.status_code, bytes(body), _headers(response))

    async def _open_checked(self, request: _Request) -> _Opened:
        """Send `request` (redirects followed); the final response must be usable."""
        budget = _Budget(self.policy.total_timeout)
        async with AsyncExitStack() as attempt:
            with _classified(request.url):
                response = await self._follow_redirects(attempt, request, budget)
            _raise_for_status(response)
            return _Opened(attempt.pop_all(), response, budget)

    async def _follow_redirects(
        self, owner: AsyncExitStack, request: _Request, budget: _Budget
    ) -> httpx.Response:
        """Send hop after hop, each one checked; `owner` keeps the final response open."""
        visited: set[str] = set()
        for _ in range(self.policy.max_redirects + 1):
            visited.add(request.url)
            async with AsyncExitStack() as hop:
                response = await self._send(hop, request, budget)
                target = _redirect_target(response)
                if target is None:
                    owner.push_async_exit(hop.pop_all())
                    return response
            request = _redirected(request, response.status_code, target, visited)
        raise FatalError(f"{request.url}: more than max_redirects={self.policy.max_redirects}")

    async def _send(
        self, hop: AsyncExitStack, request: _Request, budget: _Budget
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
        self, response: httpx.Response, budget: _Budget
    ) -> AsyncGenerator[bytes, None]:
        url = str(response.url)
        decoder = _decoder_for(response.headers.get("content-encoding"), url)
        cap = _SizeCap(self.policy.max_body_bytes, url)
        if isinstance(decoder, _Identity):
            cap.refuse_declared(response.headers.get("content-length"))
        with _classified(url):
            # aiter_raw is an async generator; closing it promptly releases the read.
            raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
            async with aclosing(raw):
                while (chunk := await budget.next_chunk(raw)) is not None:
                    for piece in decoder.feed(chunk):
                        cap.add(len(piece))
                        yield piece
            decoder.finish()

    def _body_of(self, opened: _Opened) -> _Body:
        response = opened.response
        pieces = (
            _no_pieces() if response.status_code == 304 else self._decoded(response, opened.budget)
        )
        return _Body(str(response.url), response.status_code, _headers(response), pieces)

    # -- local files -----------------------------------------------------------------

    def _local_path(self, url: str) -> Path | None:
        """The path a file:// URL or plain path names (None for http/https); else refused."""
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            return None
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            path = Path(url2pathname(parts.path))
        elif parts.scheme == "":
            path = Path(url)
        else:
            raise FatalError(f"{url}: only http(s) URLs and allowed local files are fetched")
        if not self.policy.allow_file_roots:
            raise FatalError(f"{url}: local files are refused (allow_file_roots is empty)")
        return path

    async def _get_file(self, path: Path, etag: str | None, last_modified: str | None) -> Fetched:
        local = await asyncio.to_thread(_stat_local, path, self.policy)
        if local.unchanged(etag, last_modified):
            return Fetched(local.url, 304, b"", local.headers)
        body = await asyncio.to_thread(_read_local, local, self.policy.max_body_bytes)
        return Fetched(local.url, 200, body, local.headers)

    async def _stream_file(self, path: Path, etag: str | None, last_modified: str | None) -> _Body:
        local = await asyncio.to_thread(_stat_local, path, self.policy)
        if local.unchanged(etag, last_modified):
            return _Body(local.url, 304, local.headers, _no_pieces())
        pieces = _local_pieces(local, self.policy.max_body_bytes)
        return _Body(local.url, 200, local.headers, pieces)


def _conditional(
    headers: Mapping[str, str] | None, etag: str | None, last_modified: str | None
) -> dict[str, str]:
    merged = dict(headers or {})
    if etag:
        merged["if-none-match"] = etag
    if last_modified:
        merged["if-modified-since"] = last_modified
    return merged


def _headers(response: httpx.Response) -> dict[str, str]:
    return dict(response.headers)  # httpx lower-cases names and joins repeated ones


@contextmanager
def _classified(url: str) -> Iterator[None]:
    """Turn transport failures into the error the engine acts on."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RetriableError(f"{url}: timed out ({type(exc).__name__})") from exc
    except TimeoutError as exc:  # the attempt's total_timeout budget ran out
        raise RetriableError(f"{url}: exceeded total_timeout") from exc
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise FatalError(f"{url}: cannot send this request ({exc})") from exc
    except httpx.ConnectError as exc:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            # A certificate that does not match or has expired is not fixed by retrying.
            raise FatalError(f"{url}: TLS certificate rejected ({exc})") from exc
        raise RetriableError(f"{url}: ConnectError: {exc}") from exc
    except httpx.TransportError as exc:  # refused, reset, closed mid-body
        raise RetriableError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FatalError(f"{url}: invalid URL ({exc})") from exc


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _raise_for_status(response: httpx.Response) -> None:
    status, url = response.status_code, response.url
    if 200 <= status < 300 or status == 304:
        return
    if status in (408, 429) or 500 <= status < 600:
        hint = parse_retry_after(response.headers.get("retry-after"))
        raise RetriableError(f"{url}: HTTP {status}", retry_after=hint)
    if status in (401, 403):
        raise FatalError(f"{url}: HTTP {status}: auth refused, check the source's credentials")
    if 400 <= status < 500:
        raise FatalError(f"{url}: HTTP {status}")
    raise FatalError(f"{url}: unexpected HTTP {status}")


def _redirect_target(response: httpx.Response) -> httpx.URL | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    return response.url.join(location).copy_with(fragment=None)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _redirected(request: _Request, status: int, target: httpx.URL, visited: set[str]) -> _Request:
    if str(target) in visited:
        raise FatalError(f"redirect loop: {request.url} -> {target}")
    headers = request.headers
    if _origin(target) != _origin(httpx.URL(request.url)):
        # A token meant for one origin must not follow a redirect to another.
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    method, payload = request.method, request.json
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, payload = "GET", None  # what browsers and httpx do
    return _Request(method, str(target), headers, payload)


def _stat_local(path: Path, policy: FetchPolicy) -> _LocalFile:
    resolved = path_under_roots(path, policy.allow_file_roots)
    try:
        info = resolved.stat()
    except OSError as exc:
        raise FatalError(f"{path}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise FatalError(f"{path}: not a regular file")
    _SizeCap(policy.max_body_bytes, str(path)).add(info.st_size)
    etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
    return _LocalFile(resolved, info.st_size, etag, formatdate(info.st_mtime, usegmt=True))


def _read_local(local: _LocalFile, limit: int) -> bytes:
    with local.path.open("rb") as handle:
        body = handle.read(limit + 1)  # the file may have grown since it was checked
    _SizeCap(limit, local.url).add(len(body))
    return body


async def _local_pieces(local: _LocalFile, limit: int) -> AsyncGenerator[bytes, None]:
    cap = _SizeCap(limit, local.url)
    handle = await asyncio.to_thread(local.path.open, "rb")
    try:
        while piece := await asyncio.to_thread(handle.read, _PIECE):
            cap.add(len(piece))
            yield piece
    finally:
        handle.close()
