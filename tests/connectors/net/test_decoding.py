"""Bodies decoded in bounded pieces: gzip and deflate, truncated and corrupt streams, size caps."""

from __future__ import annotations

import gzip
import resource
import zlib
from functools import partial
from pathlib import Path

import pytest

from connectors.framework.errors import FatalError, RetriableError
from connectors.net.policy import MiB
from tests.connectors import fault_server as faults
from tests.connectors.fault_server import fault_server
from tests.connectors.loopback import loopback_server, static
from tests.connectors.net.clients import fetcher, streamed_body, varied_text


def gzip_bomb(decoded_size: int) -> bytes:
    """A gzip stream of `decoded_size` zero bytes, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(decoded_size // MiB)]
    return b"".join([*parts, compressor.flush()])


# -- content encodings --------------------------------------------------------------


async def test_truncated_gzip_is_retriable() -> None:
    # A complete HTTP message whose gzip stream stops before its end: a body cut short.
    compressed = gzip.compress(varied_text(300_000))
    truncated = faults.respond(compressed[: len(compressed) // 2], content_encoding="gzip")
    async with fault_server({"/gz": truncated}) as server, fetcher(max_attempts=2) as client:
        with pytest.raises(RetriableError, match="cut short"):
            await client.get(server.url("/gz"))
    assert server.hits["/gz"] == 2


async def test_corrupt_gzip_is_fatal() -> None:
    # Bytes that cannot inflate are what the source serves; asking again will not help.
    compressed = bytearray(gzip.compress(varied_text(50_000)))
    compressed[20:40] = b"\xff" * 20
    corrupt = faults.respond(bytes(compressed), content_encoding="gzip")
    async with fault_server({"/gz": corrupt}) as server, fetcher() as client:
        with pytest.raises(FatalError, match="corrupt compressed body"):
            await client.get(server.url("/gz"))
    assert server.hits["/gz"] == 1


async def test_gzip_and_deflate_bodies_are_decoded() -> None:
    text = varied_text(1_000_000)
    members = gzip.compress(text[:400_000]) + gzip.compress(text[400_000:])
    routes = {
        "/gzip": faults.streamed(gzip.compress(text), content_encoding="gzip"),
        "/members": faults.streamed(members, content_encoding="gzip"),
        "/deflate": faults.streamed(zlib.compress(text), content_encoding="deflate"),
    }
    async with fault_server(routes) as server, fetcher() as client:
        for path in routes:
            assert (await client.get(server.url(path))).body == text, path


async def test_unrequested_content_encoding_is_fatal() -> None:
    route = faults.respond(b"\x00\x01", content_encoding="br")
    async with fault_server({"/br": route}) as server, fetcher() as client:
        with pytest.raises(FatalError, match="content-encoding"):
            await client.get(server.url("/br"))


async def test_invalid_utf8_comes_back_as_the_same_bytes() -> None:
    body = b"caf\xe9 \xff\xfe \xc3\x28 \xed\xa0\x80 ok"
    async with loopback_server({"/latin": static(body)}) as server, fetcher() as client:
        assert (await client.get(server.url("/latin"))).body == body


# -- size caps ----------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux), so a later peak belongs to this test."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(200 * MiB)  # ~200 KiB on the wire


@pytest.mark.parametrize("how", ["get", "stream"])
async def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(bomb: bytes, how: str) -> None:
    route = faults.streamed(bomb, content_encoding="gzip")
    async with fault_server({"/bomb": route}) as server, fetcher(max_body_bytes=5 * MiB) as client:
        exact = reset_peak_rss()
        before = rss_kib("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        read = client.get if how == "get" else partial(streamed_body, client)
        with pytest.raises(FatalError, match="max_body_bytes"):
            await read(server.url("/bomb"))
        peak = rss_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert server.hits["/bomb"] == 1  # oversize is fatal, never retried
    assert (peak - before) < 50 * 1024, f"peak RSS grew by {(peak - before) // 1024} MiB"


async def test_declared_oversize_body_is_refused_before_reading() -> None:
    route = faults.streamed(bytes(3 * MiB))
    async with fault_server({"/big": route}) as server, fetcher(max_body_bytes=MiB) as client:
        with pytest.raises(FatalError, match="max_body_bytes"):
            await client.get(server.url("/big"))


# -- streaming ----------------------------------------------------------------------


async def test_stream_yields_decoded_chunks_of_bounded_size() -> None:
    text = varied_text(2_000_000)
    route = faults.streamed(gzip.compress(text), content_encoding="gzip")
    async with fault_server({"/feed": route}) as server, fetcher() as client:
        async with client.stream(server.url("/feed")) as body:
            chunks = [chunk async for chunk in body.chunks()]
    assert body.status == 200
    assert b"".join(chunks) == text
    assert max(map(len, chunks)) <= 64 * 1024
