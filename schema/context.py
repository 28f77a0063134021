"""The typed request context: who is calling and the ports resolvers call.

`service/` builds one per request (per socket for subscriptions); the ports are
declared in `schema.ports`, the caller in `schema.principal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import strawberry

from schema.enums import Lang
from schema.ports.admin import AdminOps
from schema.ports.live import LiveFeeds
from schema.ports.partner import PartnerWrites
from schema.ports.reads import DataAccess
from schema.principal import Principal


@dataclass
class Context:
    """One request's view: reads for everyone, writes bound to the caller."""

    data: DataAccess
    lang: Lang
    request_id: str
    now: datetime
    principal: Principal
    partner: PartnerWrites
    admin: AdminOps
    live: LiveFeeds
    # Set by the WebSocket transport from `connection_init` (where the key travels).
    connection_params: dict[str, object] | None = None


Info = strawberry.Info[Context, None]
