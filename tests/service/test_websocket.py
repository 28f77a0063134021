"""GraphQL over WebSocket on a real uvicorn server: `graphql-transport-ws` only."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from service.app import create_app
from service.db import Database
from tests.conftest import settings_for


@pytest.fixture
async def ws_url(mongo_uri: str, db: Database) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings_for(mongo_uri, db.name)), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    # startup() returns once the socket listens: no polling for readiness.
    await server.startup(sockets=[sock])
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/graphql"
    finally:
        await server.shutdown(sockets=[sock])
        sock.close()


async def test_graphql_transport_ws_runs_an_operation(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        operation = {"query": "{ industries { code } }"}
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": operation}))
        message = json.loads(await ws.recv())
        assert message["type"] == "next"
        assert {"code": "it"} in message["payload"]["data"]["industries"]
        assert json.loads(await ws.recv()) == {"type": "complete", "id": "1"}


async def _talk_legacy_protocol(url: str) -> None:
    async with connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()


async def test_legacy_graphql_ws_protocol_is_refused(ws_url: str) -> None:
    with pytest.raises(ConnectionClosedError) as closed:
        await _talk_legacy_protocol(ws_url)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406  # "Subprotocol not acceptable"
