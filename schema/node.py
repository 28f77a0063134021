"""Relay `node(id)` and the industry vocabulary."""

from __future__ import annotations

import strawberry

from schema.cache_control import VOCABULARY
from schema.common import Node
from schema.community import Community
from schema.context import Info
from schema.errors import UserInputError
from schema.event import Event
from schema.relay import from_global_id
from schema.standard import Standard
from schema.taxonomy import INDUSTRIES


@strawberry.type(description="An industry code with its labels")
class Industry:
    code: str
    name_ru: str
    name_en: str


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, raw_id = from_global_id(id)
        data = info.context.data
        if type_name == "Community":
            community = await data.community(raw_id)
            return Community.from_doc(community) if community else None
        if type_name == "Event":
            event = await data.event(raw_id)
            return Event.from_doc(event) if event else None
        if type_name == "Standard":
            standard = await data.standard(raw_id)
            return Standard.from_doc(standard) if standard else None
        raise UserInputError(f"'id' names an unknown type {type_name!r}", argument="id")

    @strawberry.field(
        description="The industry vocabulary used by `industries` filters", directives=[VOCABULARY]
    )
    def industries(self) -> list[Industry]:
        return [Industry(code=c, name_ru=ru, name_en=en) for c, (ru, en) in INDUSTRIES.items()]
