"""Document models: what a listing carries and what an entity holds.

`CommunityData`, `EventData` and `StandardData` are the source-supplied part of
an entity (the payload of a `Listing`). The stored document is that data plus
server-owned fields (id, slug, provenance, search terms, timestamps) which no
payload can set: every model forbids unknown keys.

References between entities (member-of, partners, organizers, issuer, adopters)
are external ids *of the same source*; ingestion resolves them to entity ids.

Characters that change how text reads without being part of it are dealt with here,
in the types, because every listing (a partner's, a connector's, the demo's) is
validated against these models on its way in (service.ingest.validation), and no
path can skip the model: C0 controls but tab and line feed, DEL, C1 controls, and
the bidirectional embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069
(after U+202E, "fdp.exe" shows reversed, as "exe.pdf").

- Text that people read (`ShortText`, `LongText`, `Tag`: names, descriptions,
  aliases, places, labels, tags) has them removed. A carriage return is a line
  break in another convention, not junk: CRLF and a lone CR become LF, so no two
  lines are glued together and stored text has one convention. A required text with
  nothing left is refused. Marks without an override (U+200E/U+200F) stay: mixed
  right-to-left text needs them.
- Values that are matched or followed (`ExternalId`s, identifiers, codes, URLs) are
  refused instead, naming the character: removing it would change what they point at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schema.dates import ISO_FORMS, shown
from schema.taxonomy import (
    INDUSTRIES,
    AttendanceMode,
    ChannelType,
    CommunityKind,
    CommunityStatus,
    EntityType,
    EventFormat,
    EventStatus,
    MemberOffer,
    OrganizationForm,
    StandardKind,
    StandardStatus,
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_INVISIBLE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_INVISIBLE_IN_TEXT = re.compile(f"[{_INVISIBLE}]")
_LINE_BREAK = re.compile("\r\n?")
_NOT_IN_A_KEY = re.compile(f"[{_INVISIBLE}\t\n\r]")  # a key is one line of visible text


def clean_text(value: str) -> str:
    """`value` without control and bidirectional formatting characters, line breaks as LF."""
    return _INVISIBLE_IN_TEXT.sub("", _LINE_BREAK.sub("\n", value))


def _cleaned(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


def _cleaned_not_emptied(value: object) -> object:
    if not isinstance(value, str):
        return value
    cleaned = clean_text(value)
    if value.strip() and not cleaned.strip():
        raise PydanticCustomError(
            "invisible_only", "has only control or bidirectional formatting characters"
        )
    return cleaned


def _visible_key(value: str) -> str:
    found = _NOT_IN_A_KEY.search(value)
    if found is not None:
        raise PydanticCustomError(
            "invisible_character",
            "contains U+{code}, a control or bidirectional formatting character",
            {"code": f"{ord(found.group()):04X}"},
        )
    return value


ShortText = Annotated[
    str, BeforeValidator(_cleaned_not_emptied), Field(min_length=1, max_length=300)
]
LongText = Annotated[str, BeforeValidator(_cleaned), Field(max_length=10_000)]
Tag = Annotated[str, BeforeValidator(_cleaned_not_emptied), Field(min_length=1, max_length=60)]
ExternalId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_visible_key)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_url(value: str | None) -> str | None:
    if value is not None:
        _visible_key(value)
        if not _URL.match(value):
            raise ValueError("must be an absolute http(s) URL")
    return value


def _check_countries(values: list[str]) -> list[str]:
    for value in values:
        if not _COUNTRY.match(value):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code such as 'RU'")
    return values


def _check_industries(values: list[str]) -> list[str]:
    for value in values:
        if value not in INDUSTRIES:
            raise ValueError(f"unknown industry code {value!r}; known: {', '.join(INDUSTRIES)}")
    return values


class LocalizedText(Strict):
    """Text in Russian and/or English; at least one is required."""

    ru: LongText | None = None
    en: LongText | None = None

    @model_validator(mode="after")
    def _one_language(self) -> LocalizedText:
        if not self.ru and not self.en:
            raise ValueError("needs text in at least one of 'ru' or 'en'")
        return self


class GeoPoint(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Channel(Strict):
    type: ChannelType
    url: str
    label: ShortText | None = None

    _url = field_validator("url")(_check_url)


class Identifier(Strict):
    """A registration number kept as an identifier (ИНН, ОГРН, SIREN, RNA, ...)."""

    scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,20}$")]
    value: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_visible_key)]


class CommunityData(Strict):
    name: LocalizedText
    description: LocalizedText | None = None
    aliases: list[ShortText] = Field(default_factory=list, max_length=50)
    kind: CommunityKind
    form: OrganizationForm
    industries: list[str] = Field(default_factory=list, max_length=20)
    countries: list[str] = Field(default_factory=list, max_length=50)
    region: ShortText | None = None
    city: ShortText | None = None
    location: GeoPoint | None = None
    website: str | None = None
    channels: list[Channel] = Field(default_factory=list, max_length=30)
    founded_year: int | None = Field(default=None, ge=1000, le=2100)
    member_count: int | None = Field(default=None, ge=0)
    offers: list[MemberOffer] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    identifiers: list[Identifier] = Field(default_factory=list, max_length=20)
    member_of: list[ExternalId] = Field(default_factory=list, max_length=50)
    partners: list[ExternalId] = Field(default_factory=list, max_length=100)
    status: CommunityStatus = CommunityStatus.ACTIVE

    _website = field_validator("website")(_check_url)
    _countries = field_validator("countries")(_check_countries)
    _industries = field_validator("industries")(_check_industries)


class Money(Strict):
    amount: float = Field(ge=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Venue(Strict):
    name: ShortText | None = None
    address: ShortText | None = None
    city: ShortText | None = None
    country: str | None = None
    location: GeoPoint | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None:
            _check_countries([value])
        return value


class EventData(Strict):
    title: LocalizedText
    description: LocalizedText | None = None
    format: EventFormat
    starts_at: datetime
    ends_at: datetime | None = None
    timezone: str = "UTC"
    all_day: bool = False
    attendance_mode: AttendanceMode
    venue: Venue | None = None
    online_url: str | None = None
    status: EventStatus = EventStatus.SCHEDULED
    organizers: list[ExternalId] = Field(default_factory=list, max_length=20)
    url: str | None = None
    price: Money | None = None
    is_free: bool | None = None
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list, max_length=50)

    _urls = field_validator("online_url", "url")(_check_url)

    @field_validator("starts_at", "ends_at", mode="wrap")
    @classmethod
    def _a_date_time(cls, value: object, parse: ValidatorFunctionWrapHandler) -> object:
        try:
            return parse(value)
        except ValidationError:
            # pydantic's own words ("input is too short") are the parser's, not the caller's.
            raise PydanticCustomError(
                "date_time", "{value} is not a date and time; " + ISO_FORMS, {"value": shown(value)}
            ) from None

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
            raise ValueError(
                f"{value!r} is not an IANA time zone such as 'Europe/Moscow'"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EventData:
        # Naive datetimes are wall-clock times in the event's own time zone.
        zone = ZoneInfo(self.timezone)
        starts = _aware(self.starts_at, zone)
        ends = _aware(self.ends_at, zone) if self.ends_at else None
        object.__setattr__(self, "starts_at", starts)
        object.__setattr__(self, "ends_at", ends)
        if ends is not None and ends < starts:
            raise ValueError("ends_at is before starts_at")
        if self.attendance_mode is AttendanceMode.OFFLINE and self.venue is None:
            raise ValueError(
                "an offline event needs a venue; when the place is not known, "
                "attendance_mode is 'unknown'"
            )
        return self


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


class StandardData(Strict):
    code: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_visible_key)]
    title: LocalizedText
    description: LocalizedText | None = None
    kind: StandardKind
    status: StandardStatus = StandardStatus.ACTIVE
    version: Annotated[str, Field(max_length=40), AfterValidator(_visible_key)] | None = None
    issuer: ExternalId | None = None
    adopters: list[ExternalId] = Field(default_factory=list, max_length=500)
    industries: list[str] = Field(default_factory=list, max_length=20)
    url: str | None = None

    _url = field_validator("url")(_check_url)
    _industries = field_validator("industries")(_check_industries)


ENTITY_DATA: dict[EntityType, type[CommunityData] | type[EventData] | type[StandardData]] = {
    EntityType.COMMUNITY: CommunityData,
    EntityType.EVENT: EventData,
    EntityType.STANDARD: StandardData,
}


class Listing(Strict):
    """One record as a source delivers it, before normalization."""

    entity: EntityType
    source_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    external_id: ExternalId
    payload: dict[str, Any]
    url: str | None = None
    fetched_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Hard keys the source knows for this record beyond its payload, as
    # "scheme:value" (an iCalendar UID, a platform's group id): records of different
    # sources sharing one are the same entity.
    match_keys: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*:.+$", max_length=300)]] = (
        Field(default_factory=list, max_length=20)
    )


class ListingOutcome(StrEnum):
    """What ingestion did with one listing (partners see it per item)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class Provenance(Strict):
    """Which source supports an entity, under which id, and when it was seen."""

    source_id: str
    external_id: str
    url: str | None = None
    fetched_at: datetime
