"""GraphQL over WebSocket: `graphql-transport-ws` only (no legacy `graphql-ws`).

The key travels in `connection_init` (`{"authorization": "Bearer <key>"}`); no key
means anonymous, a bad or revoked one closes the socket with 4403. The view
tracks its open connections, so it can:

- hold each key to `subscriptions_per_key` open connections (per instance: each
  instance counts its own sockets);
- close a key's connections (4403) as soon as its revocation shows in the
  `api_keys` change stream;
- close every connection (1001) at shutdown (`close_all`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UnsetType

from schema.context import Context
from schema.principal import ANONYMOUS, Principal
from service.api.graphql_http import GraphQLEndpoint
from service.api.http_errors import RequestError
from service.auth.keys import key_is_active
from service.live.changes import FeedClosed, Listener
from service.live.service import LiveHubs, LiveService

logger = logging.getLogger("guildgraph.websocket")

CLOSE_REVOKED = (4403, "API key revoked")
CLOSE_SHUTDOWN = (1001, "server shutting down")
# How long close_all waits for clients to answer the close handshake.
CLOSE_WAIT_S = 5.0


class _Connection(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's protocol handler for one socket, known to the view while it runs."""

    key_id: str | None = None
    _revocation: asyncio.Task[None] | None = None
    _closing = False

    @property
    def owner(self) -> WebSocketGraphQL:
        return cast("WebSocketGraphQL", self.view)

    @property
    def socket(self) -> WebSocket:
        return cast(ASGIWebSocketAdapter, self.websocket).ws

    async def handle(self) -> None:
        if self.owner.closing:
            await self.close(*CLOSE_SHUTDOWN)
            return
        self.owner.opened(self)
        try:
            await super().handle()
        finally:
            self.owner.closed(self)
            if self._revocation is not None:
                self._revocation.cancel()

    async def close(self, code: int, reason: str) -> None:
        """End the operations first, so none of them writes to a closed socket."""
        if self._closing:
            return
        self._closing = True
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        if self.socket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect):
                await self.websocket.close(code, reason)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # The context lives as long as the socket and its DataLoaders cache per
        # context: each operation starts with a fresh reader.
        now = datetime.now(UTC)
        self.context.now = now
        self.context.data = self.context.live.reader(now)
        wait = await self.owner.endpoint.retry_after(self.context.principal)
        if wait is not None:
            error = GraphQLError(
                f"rate limit exceeded; retry in {wait} s",
                extensions={"code": "RATE_LIMITED", "retryAfter": wait},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        # Persisted queries and trusted documents hold on a socket as over HTTP.
        payload = message["payload"]
        try:
            document = self.owner.endpoint.persisted.resolve(
                payload.get("query"), cast("dict[str, Any] | None", payload.get("extensions"))
            )
        except RequestError as refused:
            extensions = {"code": refused.code} if refused.code else {}
            error = GraphQLError(refused.message, extensions=extensions)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        if document is not None:
            payload["query"] = document.query
        await self.owner.endpoint.before_request()
        await super().handle_subscribe(message)

    def watch_revocation(self, listener: Listener) -> None:
        self._revocation = asyncio.create_task(self._close_when_revoked(listener))

    async def _close_when_revoked(self, listener: Listener) -> None:
        try:
            while True:
                try:
                    change = await listener.get()
                except FeedClosed:
                    return
                if change is None:  # changes may have been missed: ask the database
                    live = cast(LiveService, self.context.live)
                    revoked = not await key_is_active(live.database, str(self.key_id))
                else:
                    revoked = change.doc is None or change.doc.get("revoked_at") is not None
                if revoked:
                    await self.close(*CLOSE_REVOKED)
                    return
        finally:
            listener.close()


class WebSocketGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = _Connection

    def __init__(self, endpoint: GraphQLEndpoint, **kwargs: Any) -> None:
        super().__init__(subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)
        self.endpoint = endpoint
        self._hubs = LiveHubs()
        self._connections: dict[int, _Connection] = {}  # by id() of their context
        self._by_key: dict[str, set[_Connection]] = {}
        self._none_open = asyncio.Event()
        self._none_open.set()
        self.closing = False

    def _context(self, principal: Principal, accept_language: str | None) -> Context:
        request_id = f"ws-{uuid.uuid4().hex[:16]}"
        context = self.endpoint.context(principal, request_id, accept_language)
        context.live = cast(LiveService, context.live).with_hubs(self._hubs)
        return context

    async def get_context(self, request: Any, response: Any) -> Context:
        socket = cast(WebSocket, request)
        client = socket.client.host if socket.client else "-"
        principal = Principal(ANONYMOUS.role, client=client)
        return self._context(principal, socket.headers.get("accept-language"))

    def opened(self, connection: _Connection) -> None:
        self._connections[id(connection.context)] = connection
        self._none_open.clear()

    def closed(self, connection: _Connection) -> None:
        self._connections.pop(id(connection.context), None)
        if connection.key_id is not None:
            holders = self._by_key.get(connection.key_id, set())
            holders.discard(connection)
            if not holders:
                self._by_key.pop(connection.key_id, None)
        if not self._connections:
            self._none_open.set()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        connection = self._connections.get(id(context))
        if connection is None or self.closing:
            raise ConnectionRejectionError
        params = context.connection_params or {}
        authorization = params.get("authorization", params.get("Authorization"))
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError
        try:
            # A bad key and a connection over the rate limit are refused alike (4403).
            principal = await self.endpoint.admit(authorization or None, context.principal.client)
        except RequestError:
            raise ConnectionRejectionError from None
        fresh = self._context(principal, connection.socket.headers.get("accept-language"))
        if principal.key_id is not None:
            await self._admit_key(connection, principal.key_id, fresh)
        # Strawberry runs every operation of the socket with this same context object.
        for item in dataclasses.fields(Context):
            if item.name != "connection_params":
                setattr(context, item.name, getattr(fresh, item.name))
        return await super().on_ws_connect(context)

    async def _admit_key(self, connection: _Connection, key_id: str, fresh: Context) -> None:
        live = cast(LiveService, fresh.live)
        holders = self._by_key.setdefault(key_id, set())
        if len(holders) >= live.subscriptions_per_key:
            raise ConnectionRejectionError
        holders.add(connection)  # counted from here, before any await
        connection.key_id = key_id
        try:
            listener = await self._hubs.keys.listen(live.database, lambda c: c.key == key_id)
            # The watch is open now; a revocation between the first check and it
            # shows here.
            if not await key_is_active(live.database, key_id):
                listener.close()
                raise ConnectionRejectionError
        except BaseException:
            holders.discard(connection)
            connection.key_id = None
            if not holders:
                self._by_key.pop(key_id, None)
            raise
        connection.watch_revocation(listener)

    async def close_all(self) -> None:
        """Close every open connection cleanly (1001) and the change streams; for shutdown."""
        self.closing = True
        connections = list(self._connections.values())
        for connection in connections:
            try:
                await connection.close(*CLOSE_SHUTDOWN)
            except (RuntimeError, OSError) as error:  # the socket went away meanwhile
                logger.debug("closing a websocket: %s", error)
        if connections:
            try:
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await self._none_open.wait()
            except TimeoutError:
                logger.warning("%d websocket(s) did not finish closing", len(self._connections))
        await self._hubs.stop()
