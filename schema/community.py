"""Community: the GraphQL type, its nested connections and the community queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from bson import ObjectId

from schema.common import (
    Channel,
    GeoPoint,
    Identifier,
    LocalizedString,
    Node,
    SourceRef,
    pick_language,
    resolve_lang,
    wants_total,
)
from schema.context import Info
from schema.documents import CommunityFields, CommunityView
from schema.enums import (
    ChannelType,
    CommunityKind,
    CommunitySort,
    CommunityStatus,
    Formality,
    Lang,
    MemberOffer,
    OrganizationForm,
    StandardKind,
    StandardRole,
)
from schema.errors import UserInputError
from schema.inputs import CommunityEventFilter, CommunityFilter
from schema.provenance import FieldAlternative, FieldProvenance, alternatives, provenance
from schema.relay import Connection, PageRequest, expect_global_id, to_global_id

if TYPE_CHECKING:
    from schema.event import Event
    from schema.standard import Standard

EventRef = Annotated["Event", strawberry.lazy("schema.event")]
StandardRef = Annotated["Standard", strawberry.lazy("schema.standard")]


# The stored fields a listing supplies (schema.provenance).
_FIELDS = tuple(CommunityFields.__annotations__)


@strawberry.federation.type(keys=["id"], description="An industry community")
class Community(Node):
    id: strawberry.ID
    slug: str
    aliases: list[str]
    kind: CommunityKind
    form: OrganizationForm
    formality: Formality
    industries: list[str] = strawberry.field(description="Industry codes, see `industries`")
    countries: list[str] = strawberry.field(description="ISO 3166-1 alpha-2 codes")
    region: str | None
    city: str | None
    location: GeoPoint | None
    website: str | None
    channels: list[Channel]
    founded_year: int | None
    member_count: int | None
    offers: list[MemberOffer]
    tags: list[str]
    identifiers: list[Identifier]
    status: CommunityStatus
    sources: list[SourceRef]
    created_at: datetime
    updated_at: datetime
    doc: strawberry.Private[CommunityView]

    @classmethod
    def from_doc(cls, doc: CommunityView) -> Community:
        return cls(
            id=strawberry.ID(to_global_id("Community", str(doc["_id"]))),
            slug=doc["slug"],
            aliases=doc.get("aliases", []),
            kind=CommunityKind(doc["kind"]),
            form=OrganizationForm(doc["form"]),
            formality=Formality(doc["formality"]),
            industries=doc.get("industries", []),
            countries=doc.get("countries", []),
            region=doc.get("region"),
            city=doc.get("city"),
            location=GeoPoint.from_doc(doc.get("location")),
            website=doc.get("website"),
            channels=[
                Channel(type=ChannelType(c["type"]), url=c["url"], label=c.get("label"))
                for c in doc.get("channels", [])
            ],
            founded_year=doc.get("founded_year"),
            member_count=doc.get("member_count"),
            offers=[MemberOffer(o) for o in doc.get("offers", [])],
            tags=doc.get("tags", []),
            identifiers=[Identifier(**i) for i in doc.get("identifiers", [])],
            status=CommunityStatus(doc["status"]),
            sources=[SourceRef.from_doc(s) for s in doc.get("sources", [])],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            doc=doc,
        )

    @strawberry.field(
        description="Per field shown: the source listing that supplied its value (the one "
        "ranked first by source priority, then freshness, among those giving one)"
    )
    def provenance(self) -> list[FieldProvenance]:
        return provenance(self.doc, _FIELDS)

    @strawberry.field(description="Values other source listings give, not the ones shown")
    def alternatives(self) -> list[FieldAlternative]:
        return alternatives(self.doc)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Community | None:
        doc = await info.context.data.community(expect_global_id(id, "Community"))
        return cls.from_doc(doc) if doc else None

    @strawberry.field(description="Name in `lang` (default: Accept-Language), else the other")
    def name(self, info: Info, lang: Lang | None = None) -> str:
        return pick_language(self.doc["name"], resolve_lang(lang, info.context.lang)) or ""

    @strawberry.field
    def description(self, info: Info, lang: Lang | None = None) -> str | None:
        return pick_language(self.doc.get("description"), resolve_lang(lang, info.context.lang))

    @strawberry.field(description="The name in both languages as stored")
    def names(self) -> LocalizedString:
        stored = self.doc["name"]
        return LocalizedString(ru=stored.get("ru"), en=stored.get("en"))

    @strawberry.field
    def descriptions(self) -> LocalizedString | None:
        return LocalizedString.from_doc(self.doc.get("description"))

    @strawberry.field(description="The community this one is a member of, if any")
    async def parent(self, info: Info) -> Community | None:
        parents = self.doc.get("member_of") or []
        if not parents:
            return None
        doc = await info.context.data.community(str(parents[0]))
        return Community.from_doc(doc) if doc else None

    @strawberry.field(description="Every community this one is a member of")
    async def member_of(self, info: Info) -> list[Community]:
        return await _communities(info, self.doc.get("member_of") or [])

    @strawberry.field
    async def partners(self, info: Info) -> list[Community]:
        return await _communities(info, self.doc.get("partners") or [])

    @strawberry.field(description="Communities that are members of this one")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Community]:
        page = await info.context.data.community_members(
            str(self.doc["_id"]), PageRequest.build(first, after), wants_total(info)
        )
        return Connection.from_page(page, Community.from_doc)

    @strawberry.field(description="Events organized by this community; default upcoming first")
    async def events(
        self,
        info: Info,
        filter: CommunityEventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[EventRef]:
        from schema.event import Event

        page = await info.context.data.community_events(
            str(self.doc["_id"]), filter, PageRequest.build(first, after), wants_total(info)
        )
        return Connection.from_page(page, Event.from_doc)

    @strawberry.field(description="Standards this community issued, adopted, or either")
    async def standards(
        self,
        info: Info,
        role: StandardRole = StandardRole.ANY,
        kinds: list[StandardKind] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StandardRef]:
        from schema.standard import Standard

        page = await info.context.data.community_standards(
            str(self.doc["_id"]), role, kinds, PageRequest.build(first, after), wants_total(info)
        )
        return Connection.from_page(page, Standard.from_doc)


async def _communities(info: Info, ids: list[ObjectId]) -> list[Community]:
    docs = await info.context.data.communities_by_ids([str(i) for i in ids])
    return [Community.from_doc(doc) for doc in docs if doc is not None]


@strawberry.type
class CommunityQuery:
    @strawberry.field(description="Communities, filtered, searched (ru/en) and paginated")
    async def communities(
        self,
        info: Info,
        filter: CommunityFilter | None = None,
        search: str | None = None,
        sort: CommunitySort | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Community]:
        page_request = PageRequest.build(first, after, last, before)
        if sort is None:
            sort = CommunitySort.RELEVANCE if search else CommunitySort.NAME
        page = await info.context.data.communities(
            filter, search, sort, page_request, wants_total(info)
        )
        return Connection.from_page(page, Community.from_doc)

    @strawberry.field(description="One community by global id or by slug")
    async def community(
        self, info: Info, id: strawberry.ID | None = None, slug: str | None = None
    ) -> Community | None:
        if (id is None) == (slug is None):
            raise UserInputError("pass exactly one of 'id' or 'slug'", argument="id")
        if id is not None:
            doc = await info.context.data.community(expect_global_id(id, "Community"))
        else:
            doc = await info.context.data.community_by_slug(str(slug))
        return Community.from_doc(doc) if doc else None
