"""Where outbound requests may go: the SSRF guard and the transport that enforces it.

A source URL is configured by an admin and redirects are chosen by a remote server,
so neither is trusted to point somewhere harmless. `AddressGuard` refuses loopback,
private, link-local, unique-local, multicast, unspecified, reserved and cloud-metadata
addresses unless an allowed network covers them.

The check happens where the socket is opened: `GuardedTransport` gives httpcore a
network backend whose `connect_tcp` resolves the host once, checks every address and
connects to a checked address, while TLS still verifies the hostname. Checking a name
and then letting the library resolve it again would let a DNS answer that changes in
between (DNS rebinding) carry the connection to an address that was never checked.

httpx 0.28 has no public way to hand a network backend to `AsyncHTTPTransport`, so
`GuardedTransport` is a small transport over httpcore's public `AsyncConnectionPool`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpcore
import httpx

from connectors.framework.errors import FatalError, RefusedByPolicy

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
# (host, port) -> the addresses the host resolves to, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance credentials live here on AWS, GCP, Azure, OpenStack (IPv4) and AWS (IPv6).
# They stay refused even inside an allowed network: allowing a link-local range for a
# device on the LAN must not also open the cloud's credentials endpoint.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {ip_address("169.254.169.254"), ip_address("fd00:ec2::254")}
)
_UNIQUE_LOCAL = ip_network("fc00::/7")
_NAT64 = ip_network("64:ff9b::/96")

_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_unspecified", "unspecified"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


class RefusedAddress(RefusedByPolicy):
    """A request would have gone to an address the guard does not allow."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        shown = host if host == address else f"{host} ({address})"
        # A metadata address stays refused whatever is allowed: no setting opens it.
        setting = None if reason == "cloud-metadata" else "allowed_networks"
        super().__init__(f"refused to connect to {shown}: {reason} address", policy_field=setting)
        self.host = host
        self.address = address
        self.reason = reason


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64), else the address itself.

    Without this, ::ffff:127.0.0.1 or 64:ff9b::a00:1 would pass as "global IPv6".
    """
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal_reason(address: IPAddress) -> str | None:
    """Why a public fetcher should not connect to `address` (None: it is a public address)."""
    if address in _UNIQUE_LOCAL:
        return "unique-local"
    for attribute, label in _CATEGORIES:
        if getattr(address, attribute):
            return label
    if not address.is_global:
        return "non-global"
    return None


class AddressGuard:
    """Decides which addresses may be connected to, and resolves hosts to checked addresses."""

    def __init__(
        self, allowed_networks: Sequence[IPNetwork] = (), resolve: Resolver | None = None
    ) -> None:
        self.allowed_networks = tuple(allowed_networks)
        self._resolve = resolve or system_resolve

    def check(self, host: str, address: str) -> None:
        """Raise RefusedAddress unless `address` (which `host` names) may be connected to."""
        parsed = embedded_ipv4(ip_address(address))
        if parsed in METADATA_ADDRESSES:
            raise RefusedAddress(host, address, "cloud-metadata")
        if any(parsed in network for network in self.allowed_networks):
            return
        reason = refusal_reason(parsed)
        if reason is not None:
            raise RefusedAddress(host, address, reason)

    def check_literal(self, host: str) -> None:
        """Refuse a URL host that is itself an IP address, before any connection is tried."""
        with contextlib.suppress(ValueError):
            self.check(host, str(ip_address(host)))

    async def resolve_checked(self, host: str, port: int) -> list[str]:
        """Resolve `host` once and return its addresses, all of them checked.

        A name with any refused address is refused as a whole: a public name that
        also answers with a private address is the shape of a rebinding attack.
        """
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:  # socket.gaierror: no such name, or DNS unavailable
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        for address in addresses:
            self.check(host, address)
        return addresses


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses the guard checked."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend) -> None:
        self._guard = guard
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.resolve_checked(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        failure: Exception = httpcore.ConnectError(f"{host} resolved to no address")
        for address in addresses:
            try:
                # The checked address, not the name: nothing is resolved a second time.
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FatalError(f"refused to connect to unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# Most specific first: the first match decides which httpx error a httpcore error becomes.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """Re-raise httpcore errors as the httpx ones callers classify; others pass untouched."""
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _HTTPX_ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose every new connection goes through `GuardedBackend`."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(guard, httpcore.AnyIOBackend()),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("GuardedTransport needs an async request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("httpcore returned a synchronous response stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
