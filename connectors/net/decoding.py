"""Response bodies as decoded pieces: content-encoding decoders and the decoded-size cap.

Truncated gzip is retriable, corrupt gzip is fatal. A gzip stream that ends before its
end-of-stream marker is a body cut short: the usual cause is a transfer that stopped
early where HTTP framing could not tell (a close-delimited body, a proxy that gave up),
and a later attempt may well get it whole. Bytes that fail to inflate are a document
the source really serves that way; asking again returns the same bytes.

Bodies are decoded here rather than by httpx: httpx inflates a whole network read in
one call, so a 64 KiB read of a gzip bomb becomes ~64 MiB before anyone can count it
(measured: +133 MiB peak RSS for a 200 MiB bomb). `Inflater` produces at most
`PIECE` bytes per call, so memory stays bounded whatever the compression ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

from connectors.framework.errors import FatalError, RetriableError

PIECE = 64 * 1024  # the largest decoded chunk handed out, and the file read size
_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_OR_GZIP_WBITS = zlib.MAX_WBITS | 32  # HTTP "deflate" is the zlib format


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> None: ...


class Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> None:
        return None


class Inflater:
    """Inflates gzip/zlib data in pieces of at most `PIECE` bytes."""

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
            piece = self._inflate.decompress(data, PIECE)
            if piece:
                yield piece
            if self._inflate.eof:
                data = self._inflate.unused_data
                if not data:
                    return
                continue
            data = self._inflate.unconsumed_tail
            # A full piece may leave output pending inside zlib even with no input left.
            if not data and len(piece) < PIECE:
                return

    def finish(self) -> None:
        if self._fed and not self._inflate.eof:
            raise RetriableError(f"{self._url}: compressed body cut short (no end of stream)")


def decoder_for(content_encoding: str | None, url: str) -> Decoder:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return Identity()
    if codings in (["gzip"], ["x-gzip"]):
        return Inflater(_GZIP_WBITS, url)
    if codings == ["deflate"]:
        return Inflater(_ZLIB_OR_GZIP_WBITS, url)
    raise FatalError(f"{url}: unsupported content-encoding {content_encoding!r}")


class SizeCap:
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
