"""RSS/Atom feeds of event announcements -> events.

Each item is an event candidate: title, link, summary or content (as text),
categories (tags, and the format by rules), guid/id as the external id. The date
must come from the item itself (`text_dates`, or a JSON-LD `Event` embedded in its
content): an item whose event date cannot be found is Rejected, never dated by
its pubDate. Feed parsing is defused (`feed`).

State is the conditional-GET pair {"etag", "last_modified"}; a 304 yields only the
checkpoint, and the engine keeps what the last good run delivered.

How an item becomes an event, in order of trust:

| field           | from                                                                   |
|-----------------|------------------------------------------------------------------------|
| date            | JSON-LD Event > microformat > `date_pattern` > built-in patterns       |
| format          | `format_by_category` > words in categories > words in title > default  |
| attendance mode | JSON-LD > "hybrid"/"гибрид" > "online"/"онлайн"/"webinar" > default     |
| venue           | JSON-LD location > `default_venue`                                     |
| status          | JSON-LD > "cancelled"/"отменено" or "postponed"/"перенесено" in title  |
| time zone       | the venue's (coordinates, country) > `default_timezone`                |

An item with a date and a title but no venue, when nothing says it is online, is
kept with its place unknown (`AttendanceMode.UNKNOWN`): no venue is invented for
it, and it is not rejected for want of one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.framework.contract import (
    Checkpoint,
    Emitted,
    Fetcher,
    FieldWarning,
    Mapped,
    Rejected,
    State,
    Stream,
)
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.framework.reasons import validation_reason
from connectors.web.config import ExternalRef, PageUrl, check_timezone
from connectors.web.event import (
    attendance_mode,
    event_status,
    event_when,
    is_event,
    known_place,
    languages,
    pricing,
    where,
)
from connectors.web.feed import FeedItem, parse_feed
from connectors.web.html import extract_jsonld, html_to_text
from connectors.web.iso_dates import When, when
from connectors.web.text_dates import (
    BUILT_IN,
    find_in_microformats,
    find_in_text,
    microformat_start,
)
from connectors.web.values import Left, Node, Page, bounded_id, clip, read_page
from schema.dates import not_a_date_time
from schema.models import EventData, Listing, Venue
from schema.taxonomy import AttendanceMode, EntityType, EventFormat, EventStatus, Lang

# Word starts (Russian stems included) that name a format; the first row that hits wins.
_FORMAT_WORDS: tuple[tuple[EventFormat, re.Pattern[str]], ...] = tuple(
    (fmt, re.compile(rf"\b(?:{stems})", re.IGNORECASE))
    for fmt, stems in (
        (EventFormat.HACKATHON, "хакатон|hackathon|datathon|конкурс|competition"),
        (
            EventFormat.EDUCATIONAL,
            "вебинар|webinar|семинар|seminar|тренинг|training|workshop|воркшоп|мастер-класс"
            "|master-?class|лекци|lecture|курс|course|интенсив|bootcamp",
        ),
        (
            EventFormat.CONFERENCE,
            "конференц|conference|саммит|summit|форум|forum|конгресс|congress|выставк|expo",
        ),
        (EventFormat.MEETUP, "митап|meetup|meet-up|встреч"),
        (EventFormat.SOCIAL, "нетворкинг|networking|вечеринк|party|пикник"),
    )
)
_HYBRID = re.compile(r"\b(?:гибрид|hybrid)", re.IGNORECASE)
_ONLINE = re.compile(r"\b(?:онлайн|online|вебинар|webinar)", re.IGNORECASE)
_STATUS_WORDS = (
    (EventStatus.CANCELLED, re.compile(r"\b(?:отмен|cancel)", re.IGNORECASE)),
    (EventStatus.POSTPONED, re.compile(r"\b(?:перенес|перенос|postpone)", re.IGNORECASE)),
)
_HTTP = re.compile(r"^https?://\S+$", re.IGNORECASE)
_SHORT, _TAG = 300, 60


class RssFeedConfig(BaseModel):
    """One feed of event announcements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: PageUrl
    language: Lang = Field(description="language of the items' text (ru or en)")
    default_timezone: str = Field(default="UTC", description="zone of dates without an offset")
    default_format: EventFormat = EventFormat.MEETUP
    format_by_category: dict[str, EventFormat] = Field(
        default_factory=dict, description="category (any case) -> format, before the word rules"
    )
    default_attendance_mode: AttendanceMode = AttendanceMode.OFFLINE
    default_venue: Venue | None = Field(
        default=None, description="where the feed's offline events happen, when items don't say"
    )
    organizers: list[ExternalRef] = Field(default_factory=list)
    date_pattern: str | None = Field(
        default=None, description="a regex with groups day, month, year, hour, minute (or date)"
    )

    _zone = field_validator("default_timezone")(check_timezone)

    @field_validator("date_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            groups = set(re.compile(value).groupindex)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        if "date" not in groups and not {"day", "month"} <= groups:
            raise ValueError("needs named groups (?P<day>...) and (?P<month>...), or (?P<date>...)")
        return value

    def patterns(self) -> tuple[re.Pattern[str], ...]:
        own = (re.compile(self.date_pattern, re.IGNORECASE),) if self.date_pattern else ()
        return own + BUILT_IN


def _embedded_event(item: FeedItem, base: str) -> tuple[Page, Node] | None:
    for html in (item.content, item.summary):
        if html and "ld+json" in html:
            found = extract_jsonld(html)
            page = read_page(item.link or base, found.blocks)
            for node in page.nodes:
                if is_event(page, node):
                    return page, node
    return None


def _reference_day(item: FeedItem, zone: ZoneInfo) -> date:
    published = item.published or datetime.now(UTC)
    if published.tzinfo is None:
        return published.date()
    return published.astimezone(zone).date()


def item_when(
    item: FeedItem,
    config: RssFeedConfig,
    embedded: tuple[Page, Node] | None,
    venue: dict[str, Any] | None = None,
) -> When:
    if embedded is not None and embedded[1].get("startDate"):
        return event_when(embedded[1], config.default_timezone, venue)
    reference = _reference_day(item, ZoneInfo(config.default_timezone))
    html = (item.content or "") + (item.summary or "")
    found = find_in_microformats(html, reference) if html else None
    for source in (item.title, item.summary, item.content):
        if found is None and source:
            found = find_in_text(html_to_text(source), reference, config.patterns())
    if found is None:
        written = microformat_start(html) if html else None
        if written is not None:  # a start was marked up, and it is not a date
            raise SkippableRecord(f"dt-start: {not_a_date_time(written)}")
        raise SkippableRecord("no event date in the item")
    return when(found.start, found.end, config.default_timezone, venue)


def item_format(item: FeedItem, title: str, config: RssFeedConfig) -> EventFormat:
    chosen = {k.strip().lower(): v for k, v in config.format_by_category.items()}
    for category in item.categories:
        if category.strip().lower() in chosen:
            return chosen[category.strip().lower()]
    for text in (" ".join(item.categories), title):
        for fmt, words in _FORMAT_WORDS:
            if words.search(text):
                return fmt
    return config.default_format


def item_payload(
    item: FeedItem, config: RssFeedConfig, base: str, left: list[Left] | None = None
) -> dict[str, Any]:
    """The payload, or SkippableRecord; values left out of it are added to `left`."""
    title = clip(html_to_text(item.title or ""), _SHORT)
    if not title:
        raise SkippableRecord("the item has no title")
    lang = config.language.value
    embedded = _embedded_event(item, base)
    words = " ".join([title, *item.categories])
    payload: dict[str, Any] = {}
    if embedded is not None:
        page, node = embedded
        place = where(page, node)
        if left is not None:
            left.extend(place.left)
        mode = attendance_mode(page, node, place, None)
        status = event_status(page, node)
        payload |= {"online_url": place.online_url, "languages": languages(node)}
        payload |= pricing(page, node)
        venue = place.venue
    else:
        mode, status, venue = None, EventStatus.SCHEDULED, None
    if mode is None:
        mode = (
            AttendanceMode.MIXED
            if _HYBRID.search(words)
            else AttendanceMode.ONLINE
            if _ONLINE.search(words)
            else config.default_attendance_mode
        )
    if status is EventStatus.SCHEDULED:
        status = next((s for s, rule in _STATUS_WORDS if rule.search(title)), status)
    if venue is None and mode is not AttendanceMode.ONLINE and config.default_venue:
        venue = config.default_venue.model_dump(exclude_none=True, mode="json")
    mode = known_place(mode, venue)  # offline, but no venue given: the place is unknown
    timing = item_when(item, config, embedded, venue)
    text = html_to_text(item.content or item.summary or "")
    tags = list(dict.fromkeys(clip(c.strip(), _TAG) for c in item.categories if c.strip()))
    payload |= {
        "title": {lang: title},
        "description": {lang: clip(text, 10_000)} if text else None,
        "format": item_format(item, title, config).value,
        **timing.payload(),
        "attendance_mode": mode.value,
        "venue": venue,
        "status": status.value,
        "organizers": list(config.organizers),
        # A link that is not http(s) (mailto:, a bare tag URI) must not reject the event.
        "url": item.link if item.link and _HTTP.match(item.link) else None,
        "tags": tags[:50],
    }
    return {key: value for key, value in payload.items() if value not in (None, [], {})}


@dataclass(frozen=True)
class RssFeedStream:
    source_id: str
    config: RssFeedConfig
    fetcher: Fetcher

    @property
    def name(self) -> str:
        return "events"

    @property
    def entity(self) -> EntityType:
        return EntityType.EVENT

    @property
    def primary_key(self) -> tuple[str, ...]:
        return ("id", "link")  # RSS guid or Atom id, else the item's link

    @property
    def replication_key(self) -> str | None:
        return None

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        known = {k: v for k, v in (state or {}).items() if k in ("etag", "last_modified")}
        if not all(isinstance(v, str) for v in known.values()):
            raise FatalError(f"checkpointed state {dict(state or {})!r} is not a feed state")
        fetched = await self.fetcher.get(
            self.config.url, etag=known.get("etag"), last_modified=known.get("last_modified")
        )
        if fetched.not_modified:
            yield Checkpoint(known)
            return
        feed = parse_feed(fetched.body, url=self.config.url)
        seen: set[str] = set()
        for item in feed.items:
            mapped = self._item(item, fetched.url or self.config.url)
            listing = mapped[-1]
            if isinstance(listing, Listing):
                if listing.external_id in seen:  # a feed repeating an item: keep the first
                    continue
                seen.add(listing.external_id)
            for emitted in mapped:
                yield emitted
        yield Checkpoint(fetched.validators)

    def _item(self, item: FeedItem, base: str) -> list[Listing | Rejected | FieldWarning]:
        """The item's listing (or why not), after the warnings for values left out."""
        raw = {**vars(item), "published": item.published.isoformat() if item.published else None}
        identity = item.id or item.link
        if not identity:
            return [Rejected("the item has neither a guid/id nor a link to identify it", raw=raw)]
        external_id = bounded_id(identity)
        left: list[Left] = []
        try:
            payload = item_payload(item, self.config, base, left)
            EventData.model_validate(payload)
        except SkippableRecord as skipped:
            return [Rejected(skipped.reason, external_id, raw)]
        except ValidationError as error:
            return [Rejected(validation_reason(error, whole="payload"), external_id, raw)]
        warnings = [FieldWarning(external_id, f, value, why) for f, value, why in left]
        listing = Listing(
            entity=EntityType.EVENT,
            source_id=self.source_id,
            external_id=external_id,
            payload=payload,
            url=item.link or self.config.url,
        )
        return [*warnings, listing]

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """An item kept unmapped (`_item`'s raw), mapped with today's configuration."""
        item = _stored_item(raw) if entity is EntityType.EVENT else None
        return None if item is None else self._item(item, item.link or self.config.url)


def _stored_item(raw: Any) -> FeedItem | None:
    if not isinstance(raw, dict) or set(raw) != set(FeedItem.__dataclass_fields__):
        return None
    published = raw["published"]
    try:
        moment = datetime.fromisoformat(published) if isinstance(published, str) else None
        return FeedItem(**{**raw, "published": moment})
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RssFeedConnector:
    source_id: str
    config: RssFeedConfig
    fetcher: Fetcher

    def streams(self) -> Sequence[Stream]:
        return [RssFeedStream(self.source_id, self.config, self.fetcher)]
