"""A lean HTTP/1.1 keep-alive client for the load phases.

httpx spent about as much CPU per request in the benchmark's process as the server spent
answering a community by slug (2.7 ms): on two cores the clients took one of them, and
every read line measured the client as much as the server. This client writes a request
as bytes over a kept-alive connection and reads the answer by Content-Length (or
chunks), nothing more; a phase's clients cost a tenth of what they did. It answers the
few things the phases look at (status, headers, body) with the names httpx uses, so a
scenario's checks read either.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson


class LoadClientError(Exception):
    """The connection failed, closed early or sent something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]  # names in lower case
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise LoadClientError(f"HTTP {self.status_code}: {self.text[:300]}")


@dataclass
class _Connection:
    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(request)
            answer = await _read_answer(self.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            self.close()
            raise LoadClientError(f"{type(error).__name__}: {error}") from error
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        content = await _read_chunks(reader)
    else:
        content = b""  # 204 and 304 carry no body
    return Answer(int(status), headers, content)


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class LoadClient:
    """Up to `connections` kept-alive connections to `base_url`; each request takes one
    that is free (or opens one), so `connections` concurrent clients never wait here."""

    base_url: str
    connections: int
    timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)
    _idle: list[_Connection] = field(default_factory=list)
    _opened: int = 0
    _free: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._host_header = f"{self._host}:{self._port}"

    async def post(
        self, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        body = orjson.dumps(json)
        extra = {"content-type": "application/json", **(headers or {})}
        return await self._send(_request("POST", path, self._all(extra), body))

    async def get(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        target = f"{path}?{urlencode(params)}" if params else path
        return await self._send(_request("GET", target, self._all(headers or {}), b""))

    def _all(self, headers: dict[str, str]) -> dict[str, str]:
        return {"host": self._host_header, **self.headers, **headers}

    async def _send(self, request: bytes) -> Answer:
        connection = await self._take()
        try:
            async with asyncio.timeout(self.timeout):
                return await connection.exchange(request)
        except TimeoutError as error:
            connection.close()
            raise LoadClientError(f"no answer within {self.timeout:.0f}s") from error
        finally:
            async with self._free:
                self._idle.append(connection)
                self._free.notify()

    async def _take(self) -> _Connection:
        async with self._free:
            while not self._idle and self._opened >= self.connections:
                await self._free.wait()
            if self._idle:
                return self._idle.pop()
            self._opened += 1
            return _Connection(self._host, self._port)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):
            await self.aclose()


def _request(method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body or method == "POST":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
