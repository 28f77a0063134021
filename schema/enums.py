"""GraphQL views of the taxonomy enums (names in the API, codes in storage)."""

from __future__ import annotations

from enum import Enum

import strawberry

from schema import taxonomy

# The taxonomy enums are registered with Strawberry in place and re-exported, so
# storage, payload models and the API share one definition.
strawberry.enum(taxonomy.Lang, description="Content language")
strawberry.enum(taxonomy.EntityType, description="What a listing describes")
strawberry.enum(taxonomy.CommunityKind)
strawberry.enum(taxonomy.Formality, description="Derived from the form")
strawberry.enum(taxonomy.OrganizationForm)
strawberry.enum(taxonomy.MemberOffer, description="What members get")
strawberry.enum(taxonomy.CommunityStatus)
strawberry.enum(taxonomy.ChannelType)
strawberry.enum(taxonomy.EventFormat)
strawberry.enum(taxonomy.AttendanceMode)
strawberry.enum(taxonomy.EventStatus)
strawberry.enum(taxonomy.StandardKind)
strawberry.enum(taxonomy.StandardStatus)

Lang = taxonomy.Lang
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
