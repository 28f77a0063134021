"""Typed inputs of `upsertListings`: one listing of a community, an event or a standard.

Each entity input mirrors the payload model of `schema.models` field by field
(same snake_case names, so `ListingInput.draft` maps it without a table), minus
everything the server owns: ids, slugs, provenance, timestamps and states have
no input field, so GraphQL validation refuses them like any other unknown field.
Semantic checks (URL and country formats, industry codes, date order, ...) stay
in the models, which ingestion applies to partners and connectors alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.enums import (
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

MAX_EXTERNAL_ID = 200
MAX_URL = 2000


_EXTERNAL_IDS = "External ids of this source's own community listings"


@strawberry.input(description="Text in Russian and/or English; at least one is required")
class LocalizedTextInput:
    ru: str | None = None
    en: str | None = None


@strawberry.input
class GeoPointInput:
    lat: float
    lon: float


@strawberry.input
class ChannelInput:
    type: ChannelType
    url: str
    label: str | None = None


@strawberry.input(description="A registration number (scheme such as 'inn', 'ogrn', 'siren')")
class IdentifierInput:
    scheme: str
    value: str


@strawberry.input
class CommunityListingInput:
    name: LocalizedTextInput
    description: LocalizedTextInput | None = None
    aliases: list[str] | None = None
    kind: CommunityKind
    form: OrganizationForm
    industries: list[str] | None = strawberry.field(
        default=None, description="Industry codes, see `industries`"
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 codes"
    )
    region: str | None = None
    city: str | None = None
    location: GeoPointInput | None = None
    website: str | None = None
    channels: list[ChannelInput] | None = None
    founded_year: int | None = None
    member_count: int | None = None
    offers: list[MemberOffer] | None = None
    tags: list[str] | None = None
    identifiers: list[IdentifierInput] | None = None
    member_of: list[str] | None = strawberry.field(default=None, description=_EXTERNAL_IDS)
    partners: list[str] | None = strawberry.field(default=None, description=_EXTERNAL_IDS)
    status: CommunityStatus | None = strawberry.field(default=None, description="Default ACTIVE")


@strawberry.input
class MoneyInput:
    amount: float
    currency: str = strawberry.field(description="ISO 4217 code such as 'RUB'")


@strawberry.input
class VenueInput:
    name: str | None = None
    address: str | None = None
    city: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    location: GeoPointInput | None = None


@strawberry.input
class EventListingInput:
    title: LocalizedTextInput
    description: LocalizedTextInput | None = None
    format: EventFormat
    starts_at: datetime = strawberry.field(
        description="With an offset, or a wall-clock time in `timezone`"
    )
    ends_at: datetime | None = None
    timezone: str | None = strawberry.field(default=None, description="IANA zone, default UTC")
    all_day: bool | None = None
    attendance_mode: AttendanceMode
    venue: VenueInput | None = strawberry.field(default=None, description="Required offline")
    online_url: str | None = None
    status: EventStatus | None = strawberry.field(default=None, description="Default SCHEDULED")
    organizers: list[str] | None = strawberry.field(default=None, description=_EXTERNAL_IDS)
    url: str | None = None
    price: MoneyInput | None = None
    is_free: bool | None = None
    languages: list[str] | None = strawberry.field(
        default=None, description="ISO 639-1 codes such as 'ru'"
    )
    tags: list[str] | None = None


@strawberry.input
class StandardListingInput:
    code: str
    title: LocalizedTextInput
    description: LocalizedTextInput | None = None
    kind: StandardKind
    status: StandardStatus | None = strawberry.field(default=None, description="Default ACTIVE")
    version: str | None = None
    issuer: str | None = strawberry.field(
        default=None, description="External id of this source's issuing community"
    )
    adopters: list[str] | None = strawberry.field(default=None, description=_EXTERNAL_IDS)
    industries: list[str] | None = None
    url: str | None = None


@dataclass(frozen=True)
class ItemError:
    path: str  # GraphQL-style, from the mutation input: "listings.3.community.name"
    message: str


@dataclass(frozen=True)
class ListingDraft:
    """One input item as the service receives it: a listing to ingest, or why not."""

    index: int
    external_id: str
    entity: EntityType | None
    url: str | None
    payload: dict[str, Any] | None
    errors: tuple[ItemError, ...] = ()

    @property
    def path(self) -> str:
        """Where the payload sits in the input, e.g. "listings.3.community"."""
        entity = f".{self.entity.value}" if self.entity is not None else ""
        return f"listings.{self.index}{entity}"

    def payload_error(self, location: str, message: str) -> ItemError:
        """An ingestion error ("channels.0.label") at its place in the input."""
        if location == "externalId":  # about the listing, not its payload
            return ItemError(f"listings.{self.index}.externalId", message)
        parts = [self.path]
        if location and location != "payload":
            parts += [p if p.isdigit() else to_camel_case(p) for p in location.split(".")]
        return ItemError(".".join(parts), message)

    def canonical(self) -> dict[str, Any]:
        """What identifies the request item (for idempotency-key reuse checks)."""
        return {
            "external_id": self.external_id,
            "entity": self.entity.value if self.entity is not None else None,
            "url": self.url,
            "payload": self.payload,
            "errors": [[e.path, e.message] for e in self.errors],
        }


@strawberry.input(
    description="One listing: its id at the source and exactly one of community, event, standard"
)
class ListingInput:
    external_id: str = strawberry.field(
        description="The listing's id at this source (1-200 characters); the upsert key"
    )
    url: str | None = strawberry.field(
        default=None, description="Where the record lives at the source"
    )
    community: CommunityListingInput | None = None
    event: EventListingInput | None = None
    standard: StandardListingInput | None = None

    def draft(self, index: int) -> ListingDraft:
        given = [
            (EntityType(name), part)
            for name, part in (
                ("community", self.community),
                ("event", self.event),
                ("standard", self.standard),
            )
            if part is not None
        ]
        entity, payload = (given[0][0], _plain(given[0][1])) if len(given) == 1 else (None, None)
        external_id = self.external_id.strip()
        errors: list[ItemError] = []
        at = f"listings.{index}"
        if not external_id or len(external_id) > MAX_EXTERNAL_ID:
            errors.append(ItemError(f"{at}.externalId", f"must be 1-{MAX_EXTERNAL_ID} characters"))
        if self.url is not None and not _is_http_url(self.url):
            errors.append(ItemError(f"{at}.url", "must be an absolute http(s) URL"))
        if len(given) != 1:
            errors.append(ItemError(at, "give exactly one of 'community', 'event' or 'standard'"))
        return ListingDraft(index, external_id, entity, self.url, payload, tuple(errors))


def drafts(listings: Sequence[ListingInput]) -> list[ListingDraft]:
    return [item.draft(index) for index, item in enumerate(listings)]


def _is_http_url(value: str) -> bool:
    if len(value) > MAX_URL or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _plain(value: Any) -> Any:
    """An input object as the payload dict the models read: snake_case keys, enum codes,
    ISO date-times (a naive one stays naive: it is wall-clock time in the event's zone),
    and no key for a field that was not given."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value
