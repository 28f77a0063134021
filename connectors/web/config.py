"""What an admin configures for a source of schema.org JSON-LD pages.

Validated when the source is registered; a bad value fails with its field named.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schema.taxonomy import (
    AttendanceMode,
    CommunityKind,
    EventFormat,
    Lang,
    OrganizationForm,
)

# An http(s) page, or a file:// one of a local source (read under the allowed roots).
_PAGE_URL = re.compile(
    r"^(?:https?://[^\s/$.?#][^\s]*|file://(?:localhost)?/[^\s]+)$", re.IGNORECASE
)

PageUrl = Annotated[str, Field(pattern=_PAGE_URL.pattern, max_length=2000)]
ExternalRef = Annotated[str, Field(min_length=1, max_length=200)]


class Entities(StrEnum):
    EVENTS = "events"
    COMMUNITIES = "communities"
    BOTH = "both"


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Moscow'") from None
    return value


class JsonLdPagesConfig(BaseModel):
    """A list of pages whose embedded schema.org data describes events or organizations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[PageUrl] = Field(min_length=1, max_length=1000)
    entities: Entities = Entities.BOTH
    language: Lang = Field(description="language of the pages' text (ru or en)")
    default_timezone: str = Field(
        default="UTC",
        description="zone of times written without an offset; see connectors.web.iso_dates",
    )
    # Events
    default_format: EventFormat = Field(
        default=EventFormat.MEETUP, description="format of a plain `Event`"
    )
    format_by_type: dict[str, EventFormat] = Field(
        default_factory=dict, description="schema.org type -> format, over the built-in table"
    )
    default_attendance_mode: AttendanceMode | None = Field(
        default=None,
        description="when a page says neither the mode nor the location; "
        "unset, such an event is kept with its place unknown",
    )
    organizers: list[ExternalRef] = Field(
        default_factory=list, description="external ids added to every event's organizers"
    )
    # Communities
    default_form: OrganizationForm = Field(
        default=OrganizationForm.ASSOCIATION, description="form of a plain `Organization`"
    )
    default_kind: CommunityKind = CommunityKind.PROFESSIONAL
    form_by_type: dict[str, OrganizationForm] = Field(
        default_factory=dict,
        description="schema.org type -> form, over the built-in table; also admits new types",
    )
    kind_by_type: dict[str, CommunityKind] = Field(default_factory=dict)

    _zone = field_validator("default_timezone")(check_timezone)

    @property
    def wants_events(self) -> bool:
        return self.entities in (Entities.EVENTS, Entities.BOTH)

    @property
    def wants_communities(self) -> bool:
        return self.entities in (Entities.COMMUNITIES, Entities.BOTH)
