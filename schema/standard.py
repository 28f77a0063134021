"""Standard: the GraphQL type and the standard queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.common import (
    Node,
    SourceRef,
    Titled,
    wants_total,
)
from schema.context import Info
from schema.documents import StandardView
from schema.enums import StandardKind, StandardSort, StandardStatus
from schema.errors import UserInputError
from schema.inputs import StandardFilter
from schema.relay import Connection, PageRequest, expect_global_id, to_global_id

if TYPE_CHECKING:
    from schema.community import Community

CommunityRef = Annotated["Community", strawberry.lazy("schema.community")]


@strawberry.federation.type(keys=["id"], description="A standard a community issues or adopts")
class Standard(Node, Titled):
    id: strawberry.ID
    slug: str
    code: str
    kind: StandardKind
    status: StandardStatus
    version: str | None
    industries: list[str]
    url: str | None
    sources: list[SourceRef]
    created_at: datetime
    updated_at: datetime
    doc: strawberry.Private[StandardView]

    @classmethod
    def from_doc(cls, doc: StandardView) -> Standard:
        return cls(
            id=strawberry.ID(to_global_id("Standard", str(doc["_id"]))),
            slug=doc["slug"],
            code=doc["code"],
            kind=StandardKind(doc["kind"]),
            status=StandardStatus(doc["status"]),
            version=doc.get("version"),
            industries=doc.get("industries", []),
            url=doc.get("url"),
            sources=[SourceRef.from_doc(s) for s in doc.get("sources", [])],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            doc=doc,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Standard | None:
        doc = await info.context.data.standard(expect_global_id(id, "Standard"))
        return cls.from_doc(doc) if doc else None

    @strawberry.field(description="The community that issued this standard")
    async def issuer(self, info: Info) -> CommunityRef | None:
        from schema.community import Community

        issuer = self.doc.get("issuer")
        if issuer is None:
            return None
        doc = await info.context.data.community(str(issuer))
        return Community.from_doc(doc) if doc else None

    @strawberry.field(description="Communities that adopted this standard")
    async def adopted_by(self, info: Info) -> list[CommunityRef]:
        from schema.community import Community

        ids = [str(i) for i in self.doc.get("adopters", [])]
        docs = await info.context.data.communities_by_ids(ids)
        return [Community.from_doc(doc) for doc in docs if doc is not None]


@strawberry.type
class StandardQuery:
    @strawberry.field(description="Standards, filtered, searched and paginated")
    async def standards(
        self,
        info: Info,
        filter: StandardFilter | None = None,
        search: str | None = None,
        sort: StandardSort | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Standard]:
        page_request = PageRequest.build(first, after, last, before)
        if sort is None:
            sort = StandardSort.RELEVANCE if search else StandardSort.CODE
        page = await info.context.data.standards(
            filter, search, sort, page_request, wants_total(info)
        )
        return Connection.from_page(page, Standard.from_doc)

    @strawberry.field(description="One standard by global id or by code (ГОСТ Р 1.0 = GOST R 1.0)")
    async def standard(
        self, info: Info, id: strawberry.ID | None = None, code: str | None = None
    ) -> Standard | None:
        if (id is None) == (code is None):
            raise UserInputError("pass exactly one of 'id' or 'code'", argument="id")
        if id is not None:
            doc = await info.context.data.standard(expect_global_id(id, "Standard"))
        else:
            doc = await info.context.data.standard_by_code(str(code))
        return Standard.from_doc(doc) if doc else None
