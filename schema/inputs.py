"""Typed inputs the ports take: the read filters, which stores translate (never
client dicts) into queries, the listing-change filter and the admin's source specs."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.enums import (
    AttendanceMode,
    CommunityKind,
    CommunityStatus,
    EventFormat,
    EventStatus,
    Formality,
    ListingChangeKind,
    ListingEntityType,
    MatchMode,
    MemberOffer,
    OrganizationForm,
    SourceFamily,
    StandardKind,
    StandardStatus,
)

PRIORITY = (
    "0-1000: workers take queued runs of higher-priority sources first, and where several "
    "sources feed one entity, each field shows the value of the highest-priority source"
)
FIELD_PRIORITIES = (
    "Per field, a priority other than `priority` for this source's values, e.g. "
    '{"website": 900, "foundedYear": 10}'
)


@strawberry.input(description="Inclusive integer range; either end may be omitted")
class IntRange:
    min: int | None = None
    max: int | None = None


@strawberry.input(description="Communities matching every field given; lists match any value")
class CommunityFilter:
    kinds: list[CommunityKind] | None = None
    forms: list[OrganizationForm] | None = None
    formality: Formality | None = None
    industries: list[str] | None = strawberry.field(
        default=None, description="Industry codes, see `industries`"
    )
    industries_match: MatchMode = strawberry.field(
        default=MatchMode.ANY, description="ANY: at least one of `industries`; ALL: every one"
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 codes"
    )
    city: str | None = None
    tags: list[str] | None = None
    offers: list[MemberOffer] | None = None
    founded_year: IntRange | None = None
    member_of: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of the parent community"
    )
    has_upcoming_events: bool | None = None
    statuses: list[CommunityStatus] | None = None
    and_: list[CommunityFilter] | None = strawberry.field(default=None, name="AND")
    or_: list[CommunityFilter] | None = strawberry.field(default=None, name="OR")


@strawberry.input(description="Geographic radius around a point")
class NearInput:
    lat: float
    lon: float
    radius_km: float


@strawberry.input(description="Events of one community; without from/to only upcoming ones")
class CommunityEventFilter:
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    formats: list[EventFormat] | None = None
    attendance_modes: list[AttendanceMode] | None = None
    statuses: list[EventStatus] | None = None


@strawberry.input(description="Events matching every field given; without from/to only upcoming")
class EventFilter:
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    formats: list[EventFormat] | None = None
    attendance_modes: list[AttendanceMode] | None = None
    statuses: list[EventStatus] | None = None
    countries: list[str] | None = None
    city: str | None = None
    organizer: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of an organizing community"
    )
    near: NearInput | None = None


@strawberry.input
class StandardFilter:
    kinds: list[StandardKind] | None = None
    statuses: list[StandardStatus] | None = None
    issuer: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of the issuing community"
    )
    industries: list[str] | None = None


@strawberry.input(description="Changes matching every field given; lists match any value")
class ListingChangeFilter:
    entity_types: list[ListingEntityType] | None = None
    changes: list[ListingChangeKind] | None = None
    industries: list[str] | None = strawberry.field(
        default=None,
        description="Industry codes: a community's own, an event's organizers'",
    )
    countries: list[str] | None = strawberry.field(
        default=None,
        description="ISO 3166-1 alpha-2 codes: a community's countries, an event's venue",
    )
    source_ids: list[str] | None = strawberry.field(
        default=None, description="Sources the entity is listed by (any of them)"
    )


@strawberry.input(description="A new source; `config` is validated against its kind")
class SourceInput:
    id: str = strawberry.field(description="Lowercase letters, digits, '-' and '_'")
    name: str
    family: SourceFamily
    kind: str = strawberry.field(description="A connector kind, or 'push' for a partner")
    config: JSON = strawberry.field(
        default_factory=dict, description="Connector configuration (empty for a partner)"
    )
    schedule: str | None = None
    enabled: bool = True
    priority: int = strawberry.field(default=100, description=PRIORITY)
    field_priorities: JSON = strawberry.field(default_factory=dict, description=FIELD_PRIORITIES)


@strawberry.input(description="Fields to change; omitted ones stay; the result is re-validated")
class SourceUpdate:
    name: str | None = strawberry.UNSET
    config: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the whole configuration; '**********' keeps a stored secret",
    )
    schedule: str | None = strawberry.field(
        default=strawberry.UNSET, description="null removes the schedule"
    )
    enabled: bool | None = strawberry.UNSET
    priority: int | None = strawberry.field(default=strawberry.UNSET, description=PRIORITY)
    field_priorities: JSON | None = strawberry.field(
        default=strawberry.UNSET, description=FIELD_PRIORITIES
    )
