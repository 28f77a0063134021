"""Configuration of an iCalendar feed source, validated when the source is registered."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.framework.urls import source_url
from connectors.ics.zones import is_iana
from schema.taxonomy import EventFormat, Lang

Word = Annotated[str, Field(min_length=1, max_length=100)]


class FormatRule(BaseModel):
    """Events matching this rule get `format`; the first matching rule wins.

    `categories` match a CATEGORIES value whole, `keywords` match a word or phrase
    in SUMMARY or CATEGORIES; both ignore case.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: EventFormat
    categories: list[Word] = Field(default_factory=list, max_length=50)
    keywords: list[Word] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _matches_something(self) -> FormatRule:
        if not self.categories and not self.keywords:
            raise ValueError("give at least one of 'categories' or 'keywords'")
        return self


class IcsFeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="the feed: http(s), or file:// for a local source")
    window_days_back: int = Field(default=30, ge=0, le=3650)
    window_days_ahead: int = Field(default=365, ge=1, le=3650)
    default_format: EventFormat = EventFormat.MEETUP
    format_rules: list[FormatRule] = Field(default_factory=list, max_length=100)
    organizers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=20,
        description="external ids (same source) of the communities running these events",
    )
    language: Lang = Field(default=Lang.EN, description="the language of the feed's text")
    default_timezone: str = Field(
        default="UTC", description="IANA zone for floating times and all-day events"
    )
    max_occurrences_per_series: int = Field(default=1000, ge=1, le=10_000)
    skip_unchanged: bool = Field(
        default=True,
        description="do not re-emit occurrences whose fingerprint is in the stored state",
    )
    checkpoint_every: int = Field(default=1000, ge=1, description="listings between checkpoints")

    _url = field_validator("url")(source_url)

    @field_validator("default_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        if not is_iana(value):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Moscow'")
        return value
