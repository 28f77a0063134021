"""The GraphQL enums: the taxonomy's (names in the API, codes in storage), the
orderings and match modes, and the enums the ports exchange with the service.

Every GraphQL module takes the enums it exposes from here, never straight from
`schema.taxonomy` or `schema.models`: importing this module is what registers
those with Strawberry, so no import order can leave one unregistered.
"""

from __future__ import annotations

from enum import Enum

import strawberry

from schema import models, taxonomy

# The taxonomy enums (and the ingestion outcome) are registered with Strawberry in
# place and re-exported, so storage, payload models and the API share one definition.
strawberry.enum(taxonomy.Lang, description="Content language")
strawberry.enum(taxonomy.EntityType, description="What a listing describes")
strawberry.enum(taxonomy.CommunityKind)
strawberry.enum(taxonomy.Formality, description="Derived from the form")
strawberry.enum(taxonomy.OrganizationForm)
strawberry.enum(taxonomy.MemberOffer, description="What members get")
strawberry.enum(taxonomy.CommunityStatus)
strawberry.enum(taxonomy.ChannelType)
strawberry.enum(taxonomy.EventFormat)
strawberry.enum(
    taxonomy.AttendanceMode,
    description="How to attend: at a venue (OFFLINE), online, both (MIXED), or UNKNOWN "
    "when the source gives neither a place nor a way to join (yet)",
)
strawberry.enum(taxonomy.EventStatus)
strawberry.enum(taxonomy.StandardKind)
strawberry.enum(taxonomy.StandardStatus)
strawberry.enum(models.ListingOutcome, description="What an upsert did with one listing")

Lang = taxonomy.Lang
EntityType = taxonomy.EntityType
CommunityKind = taxonomy.CommunityKind
Formality = taxonomy.Formality
OrganizationForm = taxonomy.OrganizationForm
MemberOffer = taxonomy.MemberOffer
CommunityStatus = taxonomy.CommunityStatus
ChannelType = taxonomy.ChannelType
EventFormat = taxonomy.EventFormat
AttendanceMode = taxonomy.AttendanceMode
EventStatus = taxonomy.EventStatus
StandardKind = taxonomy.StandardKind
StandardStatus = taxonomy.StandardStatus
ListingOutcome = models.ListingOutcome


@strawberry.enum(description="How a list of values must match: any of them or all of them")
class MatchMode(Enum):
    ANY = "any"
    ALL = "all"


@strawberry.enum
class CommunitySort(Enum):
    NAME = "name"
    MEMBER_COUNT_DESC = "member_count_desc"
    FOUNDED_YEAR = "founded_year"
    UPDATED_DESC = "updated_desc"
    RELEVANCE = "relevance"


@strawberry.enum
class EventSort(Enum):
    STARTS_AT = "starts_at"
    STARTS_AT_DESC = "starts_at_desc"
    RELEVANCE = "relevance"


@strawberry.enum
class StandardSort(Enum):
    CODE = "code"
    RELEVANCE = "relevance"


@strawberry.enum(description="A community's relation to a standard")
class StandardRole(Enum):
    ISSUED = "issued"
    ADOPTED = "adopted"
    ANY = "any"


# Enums the ports exchange with the service. They live here rather than beside the
# types that show them, whose modules import `Info` and so cannot be imported by a port.


@strawberry.enum(description="What a withdrawal did with one external id")
class WithdrawOutcome(Enum):
    WITHDRAWN = "withdrawn"
    NOT_FOUND = "not_found"


@strawberry.enum(description="What happened to a listed entity")
class ListingChangeKind(Enum):
    CREATED = "created"
    UPDATED = "updated"
    WITHDRAWN = "withdrawn"


@strawberry.enum(description="The kinds of entity `listingChanges` reports")
class ListingEntityType(Enum):
    COMMUNITY = "community"
    EVENT = "event"


@strawberry.enum(description="Where a source's data comes from")
class SourceFamily(Enum):
    ASSOCIATION = "association"
    CLUSTER = "cluster"
    PLATFORM = "platform"
    PARTNER = "partner"


@strawberry.enum(description="What a key may do: push one partner source's listings, or admin")
class ApiKeyRole(Enum):
    PARTNER = "partner"
    ADMIN = "admin"


@strawberry.enum(description="Who may keep a response: any cache, or only the caller's own")
class CacheControlScope(Enum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"
