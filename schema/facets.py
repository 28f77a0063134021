"""Facet counts for communities and events, computed only for what is selected."""

from __future__ import annotations

from enum import Enum

import strawberry

from schema.common import selects
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


# GraphQL field of each facet group -> the stored field it counts.
COMMUNITY_GROUPS = {
    "byKind": "kind",
    "byForm": "form",
    "byIndustry": "industries",
    "byCountry": "countries",
}
EVENT_GROUPS = {"byFormat": "format", "byAttendanceMode": "attendance_mode", "byMonth": "month"}


def _selected_groups(info: Info, groups: dict[str, str]) -> frozenset[str]:
    """The stored fields of the groups the document selects: each group is a query of
    its own over every matching row, so one that is not asked for is not counted."""
    raw = info._raw_info  # graphql-core's nodes, as schema.common.wants_total reads them
    return frozenset(
        stored
        for name, stored in groups.items()
        if any(selects(node.selection_set, name, raw.fragments) for node in raw.field_nodes)
    )


@strawberry.type
class Facets:
    community_filter: strawberry.Private[CommunityFilter | None]
    event_filter: strawberry.Private[EventFilter | None]
    search: strawberry.Private[str | None]

    @strawberry.field(description="Counts over communities matching `filter` and `search`")
    async def communities(self, info: Info) -> CommunityFacets:
        wanted = _selected_groups(info, COMMUNITY_GROUPS)
        counts = await info.context.data.community_facets(
            self.community_filter, self.search, wanted
        )
        return CommunityFacets(
            by_kind=_counts(counts.get("kind", []), CommunityKind),
            by_form=_counts(counts.get("form", []), OrganizationForm),
            by_industry=_counts(counts.get("industries", [])),
            by_country=_counts(counts.get("countries", [])),
        )

    @strawberry.field(description="Counts over events matching `eventFilter` and `search`")
    async def events(self, info: Info) -> EventFacets:
        wanted = _selected_groups(info, EVENT_GROUPS)
        counts = await info.context.data.event_facets(self.event_filter, self.search, wanted)
        return EventFacets(
            by_format=_counts(counts.get("format", []), EventFormat),
            by_attendance_mode=_counts(counts.get("attendance_mode", []), AttendanceMode),
            by_month=_counts(counts.get("month", [])),
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
