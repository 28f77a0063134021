"""Per-host limits: concurrency never exceeded, one busy host never holds up another, rate."""

from __future__ import annotations

import asyncio

from connectors.net.pacing import TokenBucket
from tests.connectors import fault_server as faults
from tests.connectors.fault_server import fault_server
from tests.connectors.net.clients import fetcher, resolver


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
