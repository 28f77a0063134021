"""Facet counts for communities and events, computed only for what is selected."""

from __future__ import annotations

from enum import Enum

import strawberry

from schema.context import Info
from schema.enums import AttendanceMode, CommunityKind, EventFormat, OrganizationForm
from schema.inputs import CommunityFilter, EventFilter


@strawberry.type
class FacetCount:
    value: str
    count: int


def _counts(pairs: list[tuple[str, int]], enum: type[Enum] | None = None) -> list[FacetCount]:
    """Stored codes become the GraphQL enum names clients filter with."""
    return [
        FacetCount(value=enum(value).name if enum else value, count=count) for value, count in pairs
    ]


@strawberry.type
class CommunityFacets:
    by_kind: list[FacetCount]
    by_form: list[FacetCount]
    by_industry: list[FacetCount]
    by_country: list[FacetCount]


@strawberry.type
class EventFacets:
    by_format: list[FacetCount]
    by_attendance_mode: list[FacetCount]
    by_month: list[FacetCount] = strawberry.field(description="Months as YYYY-MM, local time")


@strawberry.type
class Facets:
    community_filter: strawberry.Private[CommunityFilter | None]
    event_filter: strawberry.Private[EventFilter | None]
    search: strawberry.Private[str | None]

    @strawberry.field(description="Counts over communities matching `filter` and `search`")
    async def communities(self, info: Info) -> CommunityFacets:
        counts = await info.context.data.community_facets(self.community_filter, self.search)
        return CommunityFacets(
            by_kind=_counts(counts["kind"], CommunityKind),
            by_form=_counts(counts["form"], OrganizationForm),
            by_industry=_counts(counts["industries"]),
            by_country=_counts(counts["countries"]),
        )

    @strawberry.field(description="Counts over events matching `eventFilter` and `search`")
    async def events(self, info: Info) -> EventFacets:
        counts = await info.context.data.event_facets(self.event_filter, self.search)
        return EventFacets(
            by_format=_counts(counts["format"], EventFormat),
            by_attendance_mode=_counts(counts["attendance_mode"], AttendanceMode),
            by_month=_counts(counts["month"]),
        )


@strawberry.type
class FacetQuery:
    @strawberry.field(description="Facet counts; enum values are given as their GraphQL names")
    def facets(
        self,
        filter: CommunityFilter | None = None,
        event_filter: EventFilter | None = None,
        search: str | None = None,
    ) -> Facets:
        return Facets(community_filter=filter, event_filter=event_filter, search=search)
