"""GraphQL over WebSocket on a real uvicorn server: `graphql-transport-ws` only.

Also the connection's life: the key in `connection_init`, the per-key limit,
closing on revocation and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.typing import Subprotocol

import service.api.app
from schema.models import Listing
from schema.principal import Role
from schema.relay import to_global_id
from schema.taxonomy import EntityType
from service.api.app import create_app
from service.api.websocket import WebSocketGraphQL
from service.auth.keys import NewKey, create_key, revoke_key
from service.ingest.pipeline import ingest
from service.settings import Settings
from service.storage.collections import SOURCES, Database
from tests.conftest import TEST_KEY_SECRET, settings_for, until_ready

WAIT_S = 30  # a safety net only: every wait ends on the awaited message
TRANSPORT_WS = Subprotocol("graphql-transport-ws")


@dataclass
class Served:
    url: str
    view: WebSocketGraphQL


@pytest.fixture
def views(monkeypatch: pytest.MonkeyPatch) -> list[WebSocketGraphQL]:
    """The WebSocket views apps build (to call `close_all`, as the lifespan will)."""
    made: list[WebSocketGraphQL] = []

    class Recorded(WebSocketGraphQL):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(service.api.app, "WebSocketGraphQL", Recorded)
    return made


@contextlib.asynccontextmanager
async def serve(settings: Settings, views: list[WebSocketGraphQL]) -> AsyncIterator[Served]:
    """The app on a real uvicorn server on a free loopback port."""
    app = create_app(settings)
    view = views[-1]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    # startup() returns once the socket listens: no polling for readiness.
    await server.startup(sockets=[sock])
    port = sock.getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await until_ready(http)
    try:
        yield Served(f"ws://127.0.0.1:{sock.getsockname()[1]}/graphql", view)
    finally:
        await view.close_all()
        await server.shutdown(sockets=[sock])
        sock.close()


@pytest.fixture
async def served(
    mongo_uri: str, db: Database, views: list[WebSocketGraphQL]
) -> AsyncIterator[Served]:
    async with serve(settings_for(mongo_uri, db.name, subscriptions_per_key=2), views) as s:
        yield s


@pytest.fixture
async def ws_url(served: Served) -> str:
    return served.url


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def open_socket(url: str, payload: dict[str, Any] | None = None) -> ClientConnection:
    """A connected, acknowledged graphql-transport-ws socket."""
    ws = await connect(url, subprotocols=[TRANSPORT_WS])
    init: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        init["payload"] = payload
    await ws.send(json.dumps(init))
    ack = await receive(ws)
    assert ack == {"type": "connection_ack"}, ack
    return ws


async def close_code(ws: ClientConnection) -> tuple[int, str]:
    """How the server closed the socket (messages still in flight are skipped)."""
    async with asyncio.timeout(WAIT_S):
        with pytest.raises(ConnectionClosed) as closed:
            await _read_until_closed(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def subscribe(
    ws: ClientConnection, id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await ws.send(json.dumps({"type": "subscribe", "id": id, "payload": payload}))


async def still_open(ws: ClientConnection) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    return await receive(ws) == {"type": "pong"}


def bearer(key: NewKey) -> dict[str, Any]:
    return {"authorization": f"Bearer {key.key}"}


async def admin_key(db: Database) -> NewKey:
    return await create_key(db, TEST_KEY_SECRET.encode(), Role.ADMIN, None, "test admin")


async def partner_key(db: Database, source_id: str = "partner-a") -> NewKey:
    await db[SOURCES].update_one(
        {"_id": source_id},
        {
            "$setOnInsert": {
                "name": source_id,
                "family": "partner",
                "kind": "push",
                "config": {},
                "enabled": True,
                "priority": 0,
                "created_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )
    return await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, source_id, "test partner")


LISTING_CHANGES = "subscription { listingChanges { change id } }"


async def test_graphql_transport_ws_runs_an_operation(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        operation = {"query": "{ industries { code } }"}
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": operation}))
        message = json.loads(await ws.recv())
        assert message["type"] == "next"
        assert {"code": "it"} in message["payload"]["data"]["industries"]
        assert json.loads(await ws.recv()) == {"type": "complete", "id": "1"}


async def _talk_legacy_protocol(url: str) -> None:
    async with connect(url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()


async def test_legacy_graphql_ws_protocol_is_refused(ws_url: str) -> None:
    with pytest.raises(ConnectionClosedError) as closed:
        await _talk_legacy_protocol(ws_url)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406  # "Subprotocol not acceptable"


async def test_a_key_in_connection_init_authenticates_the_socket(
    served: Served, db: Database
) -> None:
    key = await admin_key(db)
    for field in ("authorization", "Authorization"):
        async with await open_socket(served.url, {field: f"Bearer {key.key}"}) as ws:
            # Only an admin may follow a run: the socket's context carries the key.
            await subscribe(ws, "1", 'subscription { syncRunProgress(runId: "0") { id } }')
            message = await receive(ws)
            assert message["type"] == "error"
            assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_no_key_is_anonymous(served: Served) -> None:
    async with await open_socket(served.url) as ws:
        await subscribe(ws, "1", 'subscription { syncRunProgress(runId: "0") { id } }')
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer gg_0123456789abcdef_not-the-secret",
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        42,
    ],
)
async def test_a_bad_key_is_rejected_at_connection_init(
    served: Served, authorization: object
) -> None:
    async with connect(served.url, subprotocols=[TRANSPORT_WS]) as ws:
        payload = {"authorization": authorization}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert await close_code(ws) == (4403, "Forbidden")


async def test_a_revoked_key_is_rejected_at_connection_init(served: Served, db: Database) -> None:
    key = await partner_key(db)
    await revoke_key(db, key.key_id)
    async with connect(served.url, subprotocols=[TRANSPORT_WS]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": bearer(key)}))
        assert await close_code(ws) == (4403, "Forbidden")


async def test_connections_per_key_are_limited(served: Served, db: Database) -> None:
    key, other = await admin_key(db), await partner_key(db)
    first = await open_socket(served.url, bearer(key))
    async with first, await open_socket(served.url, bearer(key)):
        async with connect(served.url, subprotocols=[TRANSPORT_WS]) as third:
            await third.send(json.dumps({"type": "connection_init", "payload": bearer(key)}))
            assert await close_code(third) == (4403, "Forbidden")
        # Another key and anonymous callers are not held to this key's count.
        async with await open_socket(served.url, bearer(other)) as ws:
            assert await still_open(ws)
        async with await open_socket(served.url) as ws:
            assert await still_open(ws)
        await first.close()
        # The slot is free again once the server has seen the socket go.
        await first.wait_closed()
        async with asyncio.timeout(WAIT_S):
            await _reconnect_until_acknowledged(served.url, bearer(key))


async def _reconnect_until_acknowledged(url: str, payload: dict[str, Any]) -> None:
    while True:
        async with connect(url, subprotocols=[TRANSPORT_WS]) as again:
            await again.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                ack = await receive(again)
            except ConnectionClosed:
                continue  # the server had not finished with the closed socket yet
            assert ack == {"type": "connection_ack"}
            return


async def test_revoking_a_key_closes_its_connections(served: Served, db: Database) -> None:
    key, kept = await partner_key(db), await admin_key(db)
    async with (
        await open_socket(served.url, bearer(key)) as ws,
        await open_socket(served.url, bearer(kept)) as other,
    ):
        await subscribe(ws, "1", LISTING_CHANGES)
        await revoke_key(db, key.key_id)
        assert await close_code(ws) == (4403, "API key revoked")
        assert await still_open(other)


async def test_close_all_closes_every_connection(served: Served, db: Database) -> None:
    key = await admin_key(db)
    async with (
        await open_socket(served.url) as anonymous,
        await open_socket(served.url, bearer(key)) as keyed,
    ):
        await subscribe(anonymous, "1", LISTING_CHANGES)
        await subscribe(keyed, "1", LISTING_CHANGES)
        await served.view.close_all()
        assert await close_code(anonymous) == (1001, "server shutting down")
        assert await close_code(keyed) == (1001, "server shutting down")
    # And a socket opened after it is turned away the same way.
    async with connect(served.url, subprotocols=[TRANSPORT_WS]) as late:
        assert await close_code(late) == (1001, "server shutting down")


async def test_each_operation_on_a_socket_reads_current_data(served: Served, db: Database) -> None:
    [result] = await ingest(db, [_community("Before")])
    query = {"query": "{ node(id: $id) { ... on Community { name(lang: EN) } } }"}
    query["query"] = "query($id: ID!) " + query["query"]
    variables = {"id": to_global_id("Community", str(result.entity_id))}
    async with await open_socket(served.url) as ws:
        names = []
        for n, name in enumerate(("Before", "After")):
            await ingest(db, [_community(name)])
            await subscribe(ws, str(n), query["query"], variables)
            message = await receive(ws)
            names.append(message["payload"]["data"]["node"]["name"])
            assert await receive(ws) == {"type": "complete", "id": str(n)}
    assert names == ["Before", "After"]


def _community(name: str) -> Listing:
    payload = {"name": {"en": name}, "kind": "professional", "form": "association"}
    return Listing(entity=EntityType.COMMUNITY, source_id="s", external_id="c", payload=payload)


async def test_a_socket_counts_against_the_rate_limits(
    mongo_uri: str, db: Database, views: list[WebSocketGraphQL]
) -> None:
    settings = settings_for(mongo_uri, db.name, rate_limit_per_address=3)
    async with serve(settings, views) as served:
        ws = await open_socket(served.url)  # the connection counts: 1
        query = "{ industries { code } }"
        await subscribe(ws, "1", query)  # 2
        assert (await receive(ws))["type"] == "next"
        assert await receive(ws) == {"type": "complete", "id": "1"}
        await subscribe(ws, "2", query)  # 3
        assert (await receive(ws))["type"] == "next"
        assert await receive(ws) == {"type": "complete", "id": "2"}
        await subscribe(ws, "3", query)  # 4: over the limit
        refused = await receive(ws)
        assert refused["type"] == "error"
        assert refused["id"] == "3"
        assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert refused["payload"][0]["extensions"]["retryAfter"] >= 1
        # A new connection from the same address is refused too.
        late = await connect(served.url, subprotocols=[TRANSPORT_WS])
        await late.send(json.dumps({"type": "connection_init"}))
        assert await close_code(late) == (4403, "Forbidden")
        await ws.close()
