"""The domain vocabulary: enums shared by documents, payloads and the GraphQL schema.

Enum values are the stored (lower_snake) codes; GraphQL exposes the member names.
"""

from __future__ import annotations

from enum import StrEnum


class EntityType(StrEnum):
    COMMUNITY = "community"
    EVENT = "event"
    STANDARD = "standard"


class Lang(StrEnum):
    RU = "ru"
    EN = "en"


class CommunityKind(StrEnum):
    PROFESSIONAL = "professional"
    CORPORATE = "corporate"
    NATIONAL = "national"
    INTERNATIONAL = "international"
    SPECIALIZED = "specialized"


class Formality(StrEnum):
    FORMAL = "formal"
    INFORMAL = "informal"


class OrganizationForm(StrEnum):
    ASSOCIATION = "association"  # association or union
    CONSORTIUM = "consortium"
    CLUSTER = "cluster"  # industry cluster
    STANDARDS_BODY = "standards_body"
    REGULATOR = "regulator"
    PROFESSIONAL_GROUP = "professional_group"
    ONLINE_COMMUNITY = "online_community"  # social network, forum, messenger
    COFFEE_MEETUP = "coffee_meetup"
    HACKATHON_GROUP = "hackathon_group"  # hackathon or meetup group
    EDUCATIONAL_COMMUNITY = "educational_community"

    @property
    def formality(self) -> Formality:
        return FORMALITY_BY_FORM[self]


FORMALITY_BY_FORM: dict[OrganizationForm, Formality] = {
    OrganizationForm.ASSOCIATION: Formality.FORMAL,
    OrganizationForm.CONSORTIUM: Formality.FORMAL,
    OrganizationForm.CLUSTER: Formality.FORMAL,
    OrganizationForm.STANDARDS_BODY: Formality.FORMAL,
    OrganizationForm.REGULATOR: Formality.FORMAL,
    OrganizationForm.PROFESSIONAL_GROUP: Formality.INFORMAL,
    OrganizationForm.ONLINE_COMMUNITY: Formality.INFORMAL,
    OrganizationForm.COFFEE_MEETUP: Formality.INFORMAL,
    OrganizationForm.HACKATHON_GROUP: Formality.INFORMAL,
    OrganizationForm.EDUCATIONAL_COMMUNITY: Formality.INFORMAL,
}


class MemberOffer(StrEnum):
    """What members get from a community."""

    KNOWLEDGE_EXCHANGE = "knowledge_exchange"
    CAREER = "career"
    COLLABORATION = "collaboration"
    MENTORSHIP = "mentorship"
    FEEDBACK = "feedback"
    PARTNERSHIPS = "partnerships"
    CLIENTS = "clients"
    SUPPLIERS = "suppliers"
    INVESTMENT = "investment"
    MARKET_INSIGHTS = "market_insights"
    STANDARDIZATION = "standardization"
    ADVOCACY = "advocacy"  # regulation and advocacy
    CERTIFICATION = "certification"
    EDUCATION = "education"


class CommunityStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DISSOLVED = "dissolved"


class ChannelType(StrEnum):
    WEBSITE = "website"
    FORUM = "forum"
    SOCIAL = "social"
    MESSENGER = "messenger"
    NEWSLETTER = "newsletter"
    EVENT_PLATFORM = "event_platform"
    CRM = "crm"


class EventFormat(StrEnum):
    CONFERENCE = "conference"  # conference or summit
    MEETUP = "meetup"
    HACKATHON = "hackathon"  # hackathon or competition
    EDUCATIONAL = "educational"  # seminar, training, webinar
    SOCIAL = "social"


class AttendanceMode(StrEnum):
    OFFLINE = "offline"
    ONLINE = "online"
    MIXED = "mixed"
    # The source names no place and no way to join (a cancelled entry, a feed item with
    # only a date and a title): the event is kept, its place unknown, nothing invented.
    UNKNOWN = "unknown"


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    POSTPONED = "postponed"
    MOVED_ONLINE = "moved_online"


class StandardKind(StrEnum):
    PROFESSIONAL = "professional"
    TECHNICAL = "technical"
    ETHICAL = "ethical"
    EDUCATIONAL = "educational"
    QUALITY = "quality"


class StandardStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


# Industries are an open vocabulary kept as codes; adding one is adding a row here.
INDUSTRIES: dict[str, tuple[str, str]] = {
    "it": ("Информационные технологии", "Information technology"),
    "finance": ("Финансы", "Finance"),
    "healthcare": ("Здравоохранение", "Healthcare"),
    "education": ("Образование", "Education"),
    "energy": ("Энергетика", "Energy"),
    "manufacturing": ("Промышленность", "Manufacturing"),
    "agriculture": ("Сельское хозяйство", "Agriculture"),
    "transport": ("Транспорт и логистика", "Transport and logistics"),
    "telecom": ("Телекоммуникации", "Telecommunications"),
    "media": ("Медиа", "Media"),
    "retail": ("Торговля", "Retail"),
    "construction": ("Строительство", "Construction"),
    "science": ("Наука", "Science"),
    "legal": ("Право", "Legal services"),
    "biotech": ("Биотехнологии", "Biotechnology"),
    "aerospace": ("Авиакосмическая отрасль", "Aerospace"),
}
