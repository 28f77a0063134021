"""Event: the GraphQL type and the event queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema import zones
from schema.common import (
    GeoPoint,
    Node,
    SourceRef,
    Titled,
    wants_total,
)
from schema.context import Info
from schema.documents import EventFields, EventView
from schema.enums import AttendanceMode, EventFormat, EventSort, EventStatus
from schema.inputs import EventFilter
from schema.provenance import FieldAlternative, FieldProvenance, alternatives, provenance
from schema.relay import Connection, PageRequest, expect_global_id, to_global_id

if TYPE_CHECKING:
    from schema.community import Community

CommunityRef = Annotated["Community", strawberry.lazy("schema.community")]


# The stored fields a listing supplies (schema.provenance).
_FIELDS = tuple(EventFields.__annotations__)


@strawberry.type
class Venue:
    name: str | None
    address: str | None
    city: str | None
    country: str | None
    location: GeoPoint | None


@strawberry.type
class Money:
    amount: float
    currency: str


@strawberry.federation.type(keys=["id"], description="An event a community runs")
class Event(Node, Titled):
    id: strawberry.ID
    slug: str
    format: EventFormat
    starts_at: datetime = strawberry.field(description="Start in UTC")
    ends_at: datetime | None = strawberry.field(description="End in UTC")
    timezone: str = strawberry.field(description="IANA time zone of the event")
    starts_at_local: datetime = strawberry.field(
        description="Start in the event's own time zone, with its UTC offset "
        "(2026-12-10T19:00:00+01:00 for 19:00 in Paris): what a page shows as the time"
    )
    ends_at_local: datetime | None = strawberry.field(
        description="End in the event's own time zone, with its UTC offset"
    )
    all_day: bool
    attendance_mode: AttendanceMode
    venue: Venue | None
    online_url: str | None
    status: EventStatus
    url: str | None
    price: Money | None
    is_free: bool | None
    languages: list[str]
    tags: list[str]
    sources: list[SourceRef]
    created_at: datetime
    updated_at: datetime
    doc: strawberry.Private[EventView]

    @classmethod
    def from_doc(cls, doc: EventView) -> Event:
        venue = doc.get("venue")
        price = doc.get("price")
        zone = zones.zone(doc["timezone"])
        ends_at = doc.get("ends_at")
        return cls(
            id=strawberry.ID(to_global_id("Event", str(doc["_id"]))),
            slug=doc["slug"],
            format=EventFormat(doc["format"]),
            starts_at=doc["starts_at"],
            ends_at=ends_at,
            timezone=doc["timezone"],
            starts_at_local=doc["starts_at"].astimezone(zone),
            ends_at_local=ends_at.astimezone(zone) if ends_at else None,
            all_day=doc.get("all_day", False),
            attendance_mode=AttendanceMode(doc["attendance_mode"]),
            venue=Venue(
                name=venue.get("name"),
                address=venue.get("address"),
                city=venue.get("city"),
                country=venue.get("country"),
                location=GeoPoint.from_doc(venue.get("location")),
            )
            if venue
            else None,
            online_url=doc.get("online_url"),
            status=EventStatus(doc["status"]),
            url=doc.get("url"),
            price=Money(amount=price["amount"], currency=price["currency"]) if price else None,
            is_free=doc.get("is_free"),
            languages=doc.get("languages", []),
            tags=doc.get("tags", []),
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
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Event | None:
        doc = await info.context.data.event(expect_global_id(id, "Event"))
        return cls.from_doc(doc) if doc else None

    @strawberry.field
    async def organizers(self, info: Info) -> list[CommunityRef]:
        from schema.community import Community

        ids = [str(i) for i in self.doc.get("organizers", [])]
        docs = await info.context.data.communities_by_ids(ids)
        return [Community.from_doc(doc) for doc in docs if doc is not None]


@strawberry.type
class EventQuery:
    @strawberry.field(description="Events, filtered, searched and paginated")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        search: str | None = None,
        sort: EventSort | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Event]:
        page_request = PageRequest.build(first, after, last, before)
        if sort is None:
            sort = EventSort.RELEVANCE if search else EventSort.STARTS_AT
        page = await info.context.data.events(filter, search, sort, page_request, wants_total(info))
        return Connection.from_page(page, Event.from_doc)

    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        doc = await info.context.data.event(expect_global_id(id, "Event"))
        return Event.from_doc(doc) if doc else None
