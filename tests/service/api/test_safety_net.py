"""The outermost layer: every response says `nosniff` and carries a request id; an
exception that escaped a route is a JSON error with that id, logged once."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from service.api.metrics import Metrics
from service.storage.collections import Database
from tests.conftest import client_for, settings_for


class BrokenMetrics(Metrics):
    """Metrics whose rendering fails: a bug in a route, as far as the app can tell."""

    def render(self) -> str:
        raise RuntimeError("metrics exploded")


@pytest.fixture
async def broken(mongo_uri: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings_for(mongo_uri, db.name), BrokenMetrics()):
        yield client


async def test_an_exception_in_a_route_is_a_json_500_with_the_request_id_logged_once(
    broken: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR"):
        response = await broken.get("/metrics", headers={"x-request-id": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json() == {
        "errors": [
            {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
    assert "exploded" not in response.text
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "req-500" in errors[0].getMessage()
    assert errors[0].exc_info is not None


JSON_HEADERS = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/graphql", b'{"query": "{ industries { code } }"}', JSON_HEADERS),
        ("POST", "/graphql", b"{", JSON_HEADERS),  # 400
        ("GET", "/graphql", None, {"accept": "text/html"}),  # GraphiQL
        ("GET", "/healthz", None, {}),
        ("GET", "/readyz", None, {}),
        ("GET", "/metrics", None, {}),
        ("GET", "/no-such-page", None, {}),
    ],
)
async def test_every_response_says_nosniff_and_carries_a_request_id(
    demo_http: httpx.AsyncClient,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    response = await demo_http.request(method, path, content=body, headers=headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    again = await demo_http.request(
        method, path, content=body, headers={**headers, "x-request-id": "r-1"}
    )
    assert again.headers["x-request-id"] == "r-1"


async def test_x_served_by_names_the_process_only_when_the_settings_ask(
    mongo_uri: str, db: Database
) -> None:
    async for client in client_for(settings_for(mongo_uri, db.name)):
        plain = await client.get("/healthz")
    async for client in client_for(settings_for(mongo_uri, db.name, served_by_header=True)):
        named = await client.get("/healthz")
    assert "x-served-by" not in plain.headers
    assert named.headers["x-served-by"] == f"{socket.gethostname()}:{os.getpid()}"
