"""A raw asyncio HTTP/1.1 server for faults uvicorn cannot produce.

Each route is a coroutine that writes whatever bytes it likes: a server that never
answers, one that trickles, one that resets, closes or stalls the connection mid-body
(or right after the headers), a chunked body that ends early, a truncated or corrupt
gzip stream, a gzip bomb. The server counts connections and requests and
records how many requests were in flight at once. Every response closes its
connection, so each request is a fresh one.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class FaultServer:
    """Where the server listens and what it has seen."""

    host: str
    port: int
    scheme: str = "http"
    connections: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[RawRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def url(self, path: str, *, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


async def read_request(reader: asyncio.StreamReader) -> RawRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RawRequest(method, path, headers, body)


def head(status: int = 200, **headers: str | int) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(body: bytes, status: int = 200, **headers: str | int) -> Behaviour:
    """A complete, well-formed response."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, content_length=len(body), **headers) + body)
        await writer.drain()

    return behaviour


def echo() -> Behaviour:
    """Answers with the request body it received."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(request.body, content_type="application/json")(request, writer)

    return behaviour


def hang() -> Behaviour:
    """Reads the request and never answers."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    return behaviour


def trickle(body: bytes, every: float) -> Behaviour:
    """Sends the headers, then one byte of the body every `every` seconds."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=len(body)))
        for index in range(len(body)):
            await writer.drain()
            await asyncio.sleep(every)  # the fault itself, not synchronisation
            writer.write(body[index : index + 1])
        await writer.drain()

    return behaviour


def streamed(payload: bytes, *, piece: int = 16 * 1024, **headers: str | int) -> Behaviour:
    """Sends `payload` in pieces, waiting for the socket to drain (a large body or a bomb)."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=len(payload), **headers))
        for start in range(0, len(payload), piece):
            writer.write(payload[start : start + piece])
            await writer.drain()

    return behaviour


def reset_mid_body(body: bytes, sent: int) -> Behaviour:
    """Announces the whole body, sends `sent` bytes of it, then resets the connection."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=len(body)) + body[:sent])
        await writer.drain()
        sock = writer.get_extra_info("socket")
        # Linger 0 makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return behaviour


def closed_mid_body(body: bytes, sent: int) -> Behaviour:
    """Announces the whole body, sends `sent` bytes of it, then closes cleanly (FIN)."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=len(body)) + body[:sent])
        await writer.drain()

    return behaviour


def chunked_cut_short(body: bytes, sent: int, *, piece: int = 16 * 1024) -> Behaviour:
    """A chunked body: `sent` bytes of it in chunks, then a clean close (FIN) without
    the last, empty chunk that ends a chunked body."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(transfer_encoding="chunked"))
        for start in range(0, sent, piece):
            part = body[start : min(start + piece, sent)]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        await writer.drain()

    return behaviour


def stalled_mid_body(body: bytes, sent: int) -> Behaviour:
    """Announces the whole body, sends `sent` bytes of it (none: a stall right after the
    headers), then keeps the connection open and silent."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=len(body)) + body[:sent])
        await writer.drain()
        await asyncio.Event().wait()

    return behaviour


def in_turn(*behaviours: Behaviour) -> Behaviour:
    """The first request gets the first behaviour, and so on; the last one repeats."""
    calls = 0

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        chosen = behaviours[min(calls, len(behaviours) - 1)]
        calls += 1
        await chosen(request, writer)

    return behaviour


def after(gate: Callable[[], Awaitable[object]], then: Behaviour) -> Behaviour:
    """Waits for `gate` (an event, a barrier) before behaving as `then`."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await gate()
        await then(request, writer)

    return behaviour


async def _not_found(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    await respond(b"not found", status=404)(request, writer)


@asynccontextmanager
async def fault_server(
    routes: Mapping[str, Behaviour],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[FaultServer]:
    """Serve `routes` (path -> behaviour) on `host` until the block ends."""
    handlers: set[asyncio.Task[Any]] = set()
    info: FaultServer

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        info.connections += 1
        try:
            request = await read_request(reader)
            info.hits[request.path] += 1
            info.requests.append(request)
            info.in_flight += 1
            info.max_in_flight = max(info.max_in_flight, info.in_flight)
            try:
                await routes.get(request.path, _not_found)(request, writer)
            finally:
                info.in_flight -= 1
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away: part of several faults under test
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(serve, host, port, ssl=tls)
    scheme = "https" if tls else "http"
    info = FaultServer(host=host, port=server.sockets[0].getsockname()[1], scheme=scheme)
    try:
        yield info
    finally:
        server.close()
        pending = list(handlers)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()
