"""GraphQL over WebSocket: `graphql-transport-ws` only (no legacy `graphql-ws`)."""

from __future__ import annotations

from typing import Any

from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from schema.context import ANONYMOUS
from service.http import GraphQLEndpoint


class WebSocketGraphQL(GraphQL[Any, None]):
    def __init__(self, endpoint: GraphQLEndpoint, **kwargs: Any) -> None:
        super().__init__(subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)
        self._endpoint = endpoint

    async def get_context(self, request: Any, response: Any) -> Any:
        client = request.client.host if request.client else "-"
        principal = ANONYMOUS.__class__(ANONYMOUS.role, client=client)
        return self._endpoint.context(principal, "ws", request.headers.get("accept-language"))
