"""SafeFetcher against real loopback servers: retries, limits, size caps and the SSRF guard.

Retry waits are recorded by an injected `sleep` instead of being slept, so the tests
assert the planned waits without spending them. Time bounds appear only where the
behaviour under test is a timeout, and then as "finished within the configured bound".
"""

from __future__ import annotations

import asyncio
import gzip
import json
import resource
import shutil
import ssl
import subprocess
import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import formatdate
from functools import partial
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from connectors.framework.errors import FatalError, RetriableError
from connectors.net.address_guard import AddressGuard, RefusedAddress, embedded_ipv4, refusal_reason
from connectors.net.fetcher import FetchPolicy, MiB, SafeFetcher, TokenBucket, parse_retry_after
from tests.connectors import fault_server as faults
from tests.connectors.fault_server import fault_server
from tests.connectors.loopback import loopback_server, static


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


def counting(*responses: Response) -> Callable[[Request], Response]:
    """A loopback route answering with `responses` in turn (the last one repeats)."""
    calls = 0

    def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return responses[min(calls, len(responses)) - 1]

    return handler


async def streamed_body(client: SafeFetcher, url: str) -> bytes:
    async with client.stream(url) as body:
        return b"".join([chunk async for chunk in body.chunks()])


def redirect(status: int, location: str) -> Callable[[Request], Response]:
    return static(b"", status=status, headers={"location": location})


def gzip_bomb(decoded_size: int) -> bytes:
    """A gzip stream of `decoded_size` zero bytes, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(decoded_size // MiB)]
    return b"".join([*parts, compressor.flush()])


def varied_text(size: int) -> bytes:
    line = b"Skolkovo, \xd0\xa1\xd0\xba\xd0\xbe\xd0\xbb\xd0\xba\xd0\xbe\xd0\xb2\xd0\xbe; "
    return b"".join(line + str(n).encode() + b"\n" for n in range(size // len(line)))


# -- retries --------------------------------------------------------------------------


async def test_500_three_times_then_200_succeeds_on_the_fourth_attempt() -> None:
    route = counting(*[Response(b"down", status_code=500)] * 3, Response(b"up"))
    waits = RecordedWaits()
    async with loopback_server({"/flaky": route}) as server, fetcher(waits) as client:
        fetched = await client.get(server.url("/flaky"))
    assert (fetched.status, fetched.body) == (200, b"up")
    assert len(server.seen["/flaky"]) == 4
    # Full jitter under a doubling ceiling: base 0.01 -> 0.01, 0.02, 0.04.
    assert len(waits) == 3
    assert all(
        0 <= wait <= ceiling for wait, ceiling in zip(waits, [0.01, 0.02, 0.04], strict=True)
    )


async def test_500_every_time_gives_up_after_max_attempts() -> None:
    async with (
        loopback_server({"/down": static(b"", status=503)}) as server,
        fetcher(max_attempts=3) as client,
    ):
        with pytest.raises(RetriableError, match="gave up after 3 attempts"):
            await client.get(server.url("/down"))
    assert len(server.seen["/down"]) == 3


@pytest.mark.parametrize("status", [408, 429, 502])
async def test_retriable_statuses_are_retried(status: int) -> None:
    route = counting(Response(b"", status_code=status), Response(b"ok"))
    async with loopback_server({"/r": route}) as server, fetcher() as client:
        assert (await client.get(server.url("/r"))).body == b"ok"
    assert len(server.seen["/r"]) == 2


async def test_retry_after_seconds_is_waited_at_least() -> None:
    waits = RecordedWaits()
    route = counting(Response(b"", 429, headers={"retry-after": "1"}), Response(b"ok"))
    async with (
        loopback_server({"/r": route}) as server,
        fetcher(waits, retry_after_cap=5) as client,
    ):
        await client.get(server.url("/r"))
    assert waits == [1.0]


async def test_retry_after_http_date_is_waited_until_that_time() -> None:
    waits = RecordedWaits()

    calls = 0

    def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls > 1:
            return Response(b"ok")
        # The date is made when the request arrives, as a real server would.
        return Response(b"", 503, headers={"retry-after": formatdate(time.time() + 3, usegmt=True)})

    async with (
        loopback_server({"/r": handler}) as server,
        fetcher(waits, retry_after_cap=5) as client,
    ):
        await client.get(server.url("/r"))
    # The date has whole seconds: three seconds ahead, less the truncated fraction.
    assert len(waits) == 1
    assert 1.5 <= waits[0] <= 3.0


async def test_absurd_retry_after_is_capped_and_reported() -> None:
    waits = RecordedWaits()
    slow_down = static(b"", status=429, headers={"retry-after": "999999999"})
    async with (
        loopback_server({"/r": slow_down}) as server,
        fetcher(waits, max_attempts=3, retry_after_cap=0.2) as client,
    ):
        with pytest.raises(RetriableError) as raised:
            await client.get(server.url("/r"))
    assert waits == [0.2, 0.2]
    assert raised.value.retry_after == 999999999
    assert len(server.seen["/r"]) == 3


@pytest.mark.parametrize(
    ("status", "message"), [(401, "auth"), (403, "auth"), (404, "HTTP 404"), (410, "HTTP 410")]
)
async def test_client_errors_are_fatal_and_not_retried(status: int, message: str) -> None:
    async with loopback_server({"/x": static(b"", status=status)}) as server, fetcher() as client:
        with pytest.raises(FatalError, match=message):
            await client.get(server.url("/x"))
    assert len(server.seen["/x"]) == 1


async def test_post_json_is_sent_once_and_never_retried() -> None:
    routes = {"/graphql": faults.echo(), "/busy": faults.respond(b"", status=503)}
    async with fault_server(routes) as server, fetcher() as client:
        fetched = await client.post_json(server.url("/graphql"), {"query": "{ a }"})
        with pytest.raises(RetriableError):
            await client.post_json(server.url("/busy"), {"query": "{ a }"})
    assert json.loads(fetched.body) == {"query": "{ a }"}
    assert server.hits["/busy"] == 1


# -- timeouts and broken bodies -------------------------------------------------------


async def test_server_that_never_answers_times_out_on_each_attempt() -> None:
    async with fault_server({"/hang": faults.hang()}) as server:
        async with fetcher(read_timeout=0.2, max_attempts=2) as client:
            started = time.monotonic()
            with pytest.raises(RetriableError, match="ReadTimeout"):
                await client.get(server.url("/hang"))
            elapsed = time.monotonic() - started
    assert server.hits["/hang"] == 2
    assert elapsed < 2 * 0.2 + 3  # two read timeouts, plus generous slack


async def test_trickle_is_stopped_by_the_total_timeout() -> None:
    # Each byte comes well within read_timeout; only the per-attempt total can stop it.
    trickle = faults.trickle(b"x" * 100, every=0.1)
    async with fault_server({"/slow": trickle}) as server:
        async with fetcher(read_timeout=1, total_timeout=0.4, max_attempts=2) as client:
            started = time.monotonic()
            with pytest.raises(RetriableError, match="total_timeout"):
                await client.get(server.url("/slow"))
            elapsed = time.monotonic() - started
    assert server.hits["/slow"] == 2
    assert elapsed < 2 * 0.4 + 3


@pytest.mark.parametrize("cut", [faults.reset_mid_body, faults.closed_mid_body])
async def test_body_cut_short_is_retried(cut: Callable[[bytes, int], faults.Behaviour]) -> None:
    body = varied_text(200_000)
    route = faults.in_turn(cut(body, 50_000), faults.respond(body))
    waits = RecordedWaits()
    async with fault_server({"/cut": route}) as server, fetcher(waits) as client:
        fetched = await client.get(server.url("/cut"))
    assert fetched.body == body
    assert server.hits["/cut"] == 2
    assert len(waits) == 1


async def test_body_always_reset_gives_up_after_max_attempts() -> None:
    route = faults.reset_mid_body(varied_text(200_000), 50_000)
    async with fault_server({"/cut": route}) as server, fetcher(max_attempts=3) as client:
        with pytest.raises(RetriableError, match="gave up after 3 attempts"):
            await client.get(server.url("/cut"))
    assert server.hits["/cut"] == 3


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


# -- size caps ------------------------------------------------------------------------


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


# -- streaming ------------------------------------------------------------------------


async def test_stream_yields_decoded_chunks_of_bounded_size() -> None:
    text = varied_text(2_000_000)
    route = faults.streamed(gzip.compress(text), content_encoding="gzip")
    async with fault_server({"/feed": route}) as server, fetcher() as client:
        async with client.stream(server.url("/feed")) as body:
            chunks = [chunk async for chunk in body.chunks()]
    assert body.status == 200
    assert b"".join(chunks) == text
    assert max(map(len, chunks)) <= 64 * 1024


async def test_stream_retries_opening_but_not_a_body_cut_short() -> None:
    body = varied_text(200_000)
    routes = {
        "/flaky": faults.in_turn(faults.respond(b"", status=502), faults.respond(body)),
        "/cut": faults.in_turn(faults.reset_mid_body(body, 50_000), faults.respond(body)),
    }
    async with fault_server(routes) as server, fetcher() as client:
        assert await streamed_body(client, server.url("/flaky")) == body
        with pytest.raises(RetriableError):
            await streamed_body(client, server.url("/cut"))
    assert server.hits == {"/flaky": 2, "/cut": 1}


# -- conditional GET ------------------------------------------------------------------


async def test_conditional_get_costs_one_request_when_unchanged() -> None:
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"

    def document(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304)
        if request.headers.get("if-modified-since") == stamp:
            return Response(status_code=304)
        return Response(b"<doc/>", headers={"etag": '"v1"', "last-modified": stamp})

    async with loopback_server({"/doc": document}) as server, fetcher() as client:
        first = await client.get(server.url("/doc"))
        by_etag = await client.get(server.url("/doc"), **first.validators)
        by_date = await client.get(server.url("/doc"), last_modified=stamp)
        async with client.stream(server.url("/doc"), etag='"v1"') as streamed:
            streamed_body = b"".join([c async for c in streamed.chunks()])
    assert first.validators == {"etag": '"v1"', "last_modified": stamp}
    assert (by_etag.status, by_etag.body, by_etag.not_modified) == (304, b"", True)
    assert (by_date.status, by_date.body) == (304, b"")
    assert (streamed.status, streamed_body) == (304, b"")
    assert len(server.seen["/doc"]) == 4  # one request per call


# -- redirects and the address guard --------------------------------------------------


async def test_redirect_to_a_private_address_is_refused_before_connecting() -> None:
    # Another loopback address, outside the allowed 127.0.0.1/32.
    async with fault_server({"/x": faults.respond(b"secret")}, host="127.0.0.2") as target:
        routes = {
            "/to-literal": redirect(302, target.url("/x")),
            "/to-metadata": redirect(302, "http://169.254.169.254/latest/"),
            "/to-name": redirect(307, target.url("/x", host="intra.test")),
        }
        names = resolver({"intra.test": ["127.0.0.2"]})
        async with loopback_server(routes) as server, fetcher(resolve=names) as client:
            with pytest.raises(RefusedAddress, match=r"127\.0\.0\.2.*loopback"):
                await client.get(server.url("/to-literal"))
            with pytest.raises(RefusedAddress, match=r"169\.254\.169\.254.*cloud-metadata"):
                await client.get(server.url("/to-metadata"))
            with pytest.raises(RefusedAddress, match=r"intra\.test \(127\.0\.0\.2\)"):
                await client.get(server.url("/to-name"))
    assert target.connections == 0


async def test_redirect_loop_and_too_many_redirects_are_fatal() -> None:
    def hop(n: int) -> Callable[[Request], Response]:
        return redirect(302, f"/hop/{n + 1}")

    routes = {
        "/a": redirect(301, "/b"),
        "/b": redirect(302, "/a"),
        **{f"/hop/{n}": hop(n) for n in range(10)},
    }
    async with loopback_server(routes) as server, fetcher(max_redirects=3) as client:
        with pytest.raises(FatalError, match="redirect loop"):
            await client.get(server.url("/a"))
        with pytest.raises(FatalError, match="max_redirects=3"):
            await client.get(server.url("/hop/0"))
    assert len(server.seen["/a"]) == 1  # fatal, so not retried
    assert [len(server.seen.get(f"/hop/{n}", [])) for n in range(5)] == [1, 1, 1, 1, 0]


async def test_redirect_keeps_credentials_only_on_the_same_origin() -> None:
    async with loopback_server({"/land": static(b"landed")}) as other:
        routes = {
            "/start": redirect(302, "/middle"),
            "/middle": redirect(308, other.url("/land")),
        }
        async with loopback_server(routes) as server, fetcher() as client:
            headers = {"authorization": "Bearer t", "x-trace": "1"}
            fetched = await client.get(server.url("/start"), headers=headers)
    assert (fetched.url, fetched.body) == (other.url("/land"), b"landed")
    assert server.seen["/middle"][0].headers["authorization"] == "Bearer t"
    landed = other.seen["/land"][0].headers
    assert "authorization" not in landed
    assert landed["x-trace"] == "1"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://127.0.0.2/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        # Spellings that are not dotted quads are resolved, then refused at connect time.
        "http://167772161/",
        "http://10.1/",
        "http://0x7f.1/",
        "http://localhost/",
    ],
)
async def test_internal_addresses_are_refused_in_any_spelling(url: str) -> None:
    async with SafeFetcher(FetchPolicy(per_host_rate=None)) as client:
        with pytest.raises(RefusedAddress):
            await client.get(url)


async def test_loopback_is_refused_by_default() -> None:
    async with loopback_server({"/": static(b"hi")}) as server:
        async with SafeFetcher(FetchPolicy(per_host_rate=None)) as client:
            with pytest.raises(RefusedAddress, match="loopback"):
                await client.get(server.url("/"))
    assert "/" not in server.seen


async def test_metadata_stays_refused_inside_an_allowed_network() -> None:
    guard = AddressGuard(FetchPolicy(allowed_networks=["169.254.0.0/16"]).allowed_networks)
    guard.check("printer.lan", "169.254.10.10")
    with pytest.raises(RefusedAddress, match="cloud-metadata"):
        guard.check("169.254.169.254", "169.254.169.254")


async def test_name_resolving_to_any_private_address_is_refused() -> None:
    names = resolver({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    async with fetcher(resolve=names) as client:
        with pytest.raises(RefusedAddress, match=r"mixed\.test \(10\.1\.2\.3\): private"):
            await client.get("http://mixed.test/")


async def test_connection_goes_to_the_address_that_was_checked() -> None:
    # DNS rebinding: the name first answers with an allowed address, then with another.
    # The other one runs a server on the same port; it must never see a connection.
    answers = [["127.0.0.1"], ["127.0.0.2"]]
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return answers[min(len(lookups), len(answers)) - 1]

    async with fault_server({"/": faults.respond(b"good")}, host="127.0.0.1") as good:
        evil_routes = {"/": faults.respond(b"evil")}
        async with fault_server(evil_routes, host="127.0.0.2", port=good.port) as evil:
            async with fetcher(resolve=rebinding) as client:
                fetched = await client.get(good.url("/", host="rebind.test"))
    assert fetched.body == b"good"
    assert lookups == ["rebind.test"]  # resolved once, for the connection itself
    assert good.requests[0].headers["host"] == f"rebind.test:{good.port}"
    assert evil.connections == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name tls.test (and only that name)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = ["-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test"]
    subprocess.run(
        [*command.split(), *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_checks_the_certificate_against_the_name_not_the_address(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    names = resolver({"tls.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    async with fault_server({"/": faults.respond(b"secure")}, tls=server_tls) as server:
        async with SafeFetcher(policy(), resolve=names, ssl_context=client_tls) as client:
            fetched = await client.get(server.url("/", host="tls.test"))
            # Same address, a name the certificate does not cover: refused, not retried.
            with pytest.raises(FatalError, match="TLS certificate rejected"):
                await client.get(server.url("/", host="other.test"))
    assert fetched.body == b"secure"
    assert server.hits["/"] == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal_reason(embedded_ipv4(ip_address(address))) == reason


@pytest.mark.parametrize("wrapped", ["::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1"])
def test_ipv4_inside_ipv6_is_unwrapped(wrapped: str) -> None:
    assert str(embedded_ipv4(ip_address(wrapped))) == "10.0.0.1"


# -- local files ----------------------------------------------------------------------


async def test_local_files_are_refused_without_allowed_roots(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(b"a,b\n")
    async with fetcher() as client:
        for url in [(tmp_path / "data.csv").as_uri(), str(tmp_path / "data.csv")]:
            with pytest.raises(FatalError, match="allow_file_roots"):
                await client.get(url)
        with pytest.raises(FatalError, match="only http"):
            await client.get("ftp://example.org/data.csv")


async def test_local_files_under_an_allowed_root_are_read(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    root.mkdir()
    (root / "data.csv").write_bytes(b"a,b\n1,2\n")
    (tmp_path / "secret.txt").write_bytes(b"no")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    async with fetcher(allow_file_roots=[root]) as client:
        by_uri = await client.get((root / "data.csv").as_uri())
        by_path = await client.get(str(root / "data.csv"))
        unchanged = await client.get(str(root / "data.csv"), etag=by_uri.validators["etag"])
        async with client.stream(str(root / "data.csv")) as streamed:
            streamed_body = b"".join([c async for c in streamed.chunks()])
        for outside in [root / ".." / "secret.txt", root / "escape", Path("/etc/hostname")]:
            with pytest.raises(FatalError, match="allow_file_roots"):
                await client.get(str(outside))
    assert by_uri.body == by_path.body == streamed_body == b"a,b\n1,2\n"
    assert (unchanged.status, unchanged.body) == (304, b"")


# -- per-host limits ------------------------------------------------------------------


async def test_per_host_concurrency_is_never_exceeded() -> None:
    # Requests are answered in pairs: each waits until a second one is in flight. With
    # a limit of 1 they would wait forever (and time out); above 2 the count shows it.
    pairs = asyncio.Barrier(2)
    route = faults.after(pairs.wait, faults.respond(b"ok"))
    async with fault_server({"/work": route}) as server:
        async with fetcher(per_host_concurrency=2, max_attempts=1) as client:
            results = await asyncio.gather(*[client.get(server.url("/work")) for _ in range(10)])
    assert [r.body for r in results] == [b"ok"] * 10
    assert server.max_in_flight == 2


async def test_a_busy_host_does_not_hold_up_another() -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: faults.RawRequest, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await release.wait()
        await faults.respond(b"slow")(request, writer)

    routes = {"/slow": slow, "/fast": faults.respond(b"fast")}
    names = resolver({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with fault_server(routes) as server:
        async with fetcher(resolve=names, per_host_concurrency=1) as client:
            held = asyncio.create_task(client.get(server.url("/slow", host="a.test")))
            await arrived.wait()
            async with asyncio.timeout(5):  # a bound, should the other host be blocked
                fast = await client.get(server.url("/fast", host="b.test"))
            release.set()
            assert (await held).body == b"slow"
    assert fast.body == b"fast"


def test_token_bucket_spaces_requests_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, capacity=2, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    now[0] = 10.0  # long idle: the bucket refills, but only up to its capacity
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.5]


# -- policy and parsing ---------------------------------------------------------------


def test_policy_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError, match="allowed_networks"):
        FetchPolicy(allowed_networks=["not a network"])
    with pytest.raises(ValidationError, match="extra"):
        FetchPolicy(retries=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="absolute"):
        FetchPolicy(allow_file_roots=["relative/dir"])
    with pytest.raises(ValidationError, match="frozen"):
        FetchPolicy().max_attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected
