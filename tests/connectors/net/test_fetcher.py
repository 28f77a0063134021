"""SafeFetcher against real loopback servers: retries, timeouts, streaming, conditional GET.

Retry waits are recorded by an injected `sleep` instead of being slept, so the tests
assert the planned waits without spending them. Time bounds appear only where the
behaviour under test is a timeout, and then as "finished within the configured bound".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest
from starlette.requests import Request
from starlette.responses import Response

from connectors.framework.errors import FatalError, RetriableError
from connectors.net.fetcher import SafeFetcher
from tests.connectors import fault_server as faults
from tests.connectors.fault_server import fault_server
from tests.connectors.loopback import loopback_server, static
from tests.connectors.net.clients import RecordedWaits, fetcher, streamed_body, varied_text


def counting(*responses: Response) -> Callable[[Request], Response]:
    """A loopback route answering with `responses` in turn (the last one repeats)."""
    calls = 0

    def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return responses[min(calls, len(responses)) - 1]

    return handler


# -- retries ------------------------------------------------------------------------


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


# -- timeouts and broken bodies -----------------------------------------------------


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


# -- streaming ----------------------------------------------------------------------


async def test_stream_retries_opening_but_not_a_body_cut_short() -> None:
    body = varied_text(200_000)
    routes = {
        "/flaky": faults.in_turn(faults.respond(b"", status=502), faults.respond(body)),
        # A clean close (FIN) after part of the body: that part is read before the end
        # is seen, so some of it has been handed on when the cut shows.
        "/cut": faults.in_turn(faults.closed_mid_body(body, 50_000), faults.respond(body)),
    }
    async with fault_server(routes) as server, fetcher() as client:
        assert await streamed_body(client, server.url("/flaky")) == body
        with pytest.raises(RetriableError):
            await streamed_body(client, server.url("/cut"))
    assert server.hits == {"/flaky": 2, "/cut": 1}


# Body failures, each before any byte of the body arrives and after part of it did.
BODY_FAULTS: dict[str, Callable[[bytes, int], faults.Behaviour]] = {
    "content-length-not-reached": faults.closed_mid_body,
    "chunked-body-ends-early": faults.chunked_cut_short,
    "stall": faults.stalled_mid_body,
}


@pytest.mark.parametrize("fault", BODY_FAULTS.values(), ids=list(BODY_FAULTS))
@pytest.mark.parametrize("sent", [0, 50_000], ids=["before-the-body", "mid-body"])
async def test_get_retries_a_body_that_fails_to_arrive(
    fault: Callable[[bytes, int], faults.Behaviour], sent: int
) -> None:
    body = varied_text(200_000)
    route = faults.in_turn(fault(body, sent), faults.respond(body))
    waits = RecordedWaits()
    async with fault_server({"/doc": route}) as server:
        async with fetcher(waits, read_timeout=0.3) as client:
            fetched = await client.get(server.url("/doc"))
    assert fetched.body == body
    assert server.hits["/doc"] == 2
    assert len(waits) == 1


@pytest.mark.parametrize("fault", BODY_FAULTS.values(), ids=list(BODY_FAULTS))
async def test_stream_retries_a_body_that_fails_before_its_first_chunk(
    fault: Callable[[bytes, int], faults.Behaviour],
) -> None:
    # Nothing was handed on yet: a retry is as safe as for get().
    body = varied_text(200_000)
    route = faults.in_turn(fault(body, 0), fault(body, 0), faults.respond(body))
    waits = RecordedWaits()
    async with fault_server({"/doc": route}) as server:
        async with fetcher(waits, read_timeout=0.3) as client:
            assert await streamed_body(client, server.url("/doc")) == body
    assert server.hits["/doc"] == 3
    assert len(waits) == 2


@pytest.mark.parametrize("fault", BODY_FAULTS.values(), ids=list(BODY_FAULTS))
async def test_a_stream_failing_after_handing_on_chunks_is_not_retried(
    fault: Callable[[bytes, int], faults.Behaviour],
) -> None:
    # A retry would hand the first bytes on again: the caller gets a RetriableError
    # instead (the sync engine then fails the run, keeping its last checkpoint).
    body = varied_text(200_000)
    route = faults.in_turn(fault(body, 50_000), faults.respond(body))
    received = bytearray()

    async def read(client: SafeFetcher, url: str) -> None:
        async with client.stream(url) as streamed:
            async for chunk in streamed.chunks():
                received.extend(chunk)

    async with fault_server({"/doc": route}) as server:
        async with fetcher(read_timeout=0.3) as client:
            with pytest.raises(RetriableError, match=r"after \d+ bytes were handed on") as caught:
                await read(client, server.url("/doc"))
    assert server.hits["/doc"] == 1
    assert 0 < len(received) <= 50_000
    assert body.startswith(received)
    assert "not retried" in str(caught.value)


async def test_a_stream_gives_up_after_max_attempts_before_its_first_chunk() -> None:
    body = varied_text(10_000)
    async with fault_server({"/doc": faults.closed_mid_body(body, 0)}) as server:
        async with fetcher(max_attempts=3) as client:
            with pytest.raises(RetriableError, match="gave up after 3 attempts"):
                await streamed_body(client, server.url("/doc"))
    assert server.hits["/doc"] == 3


# -- conditional GET ----------------------------------------------------------------


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
