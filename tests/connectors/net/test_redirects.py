"""Redirects followed hop by hop: loops and long chains stop, credentials stay on their origin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.requests import Request
from starlette.responses import Response

from connectors.framework.errors import FatalError
from tests.connectors.loopback import loopback_server, static
from tests.connectors.net.clients import fetcher, redirect


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
