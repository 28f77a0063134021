"""Pages with embedded schema.org JSON-LD: events and organizations.

A source is a list of page URLs (`JsonLdPagesConfig`). Each page is fetched with a
conditional GET; its `<script type="application/ld+json">` blocks are read (`html`),
their top-level nodes (arrays and `@graph` included) mapped by type (`event`,
`community`) and validated against the payload models, so a record that could not
be used arrives as `Rejected` with its reason.

Streams `events` and `communities` read the same pages independently. State:

    {"pages": {url: {"etag": ..., "last_modified": ...}}, "position": n}

`position` (the next page to read) is in the per-page checkpoints only, so a run
cut short resumes where it stopped; the final checkpoint drops it, so the next
run starts from the first page again. A page answered 304 yields nothing.

An external id is the node's `@id`, else its `url` (both made absolute against the
page), else `<page url>#<index of the node on the page>`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.framework.contract import (
    Checkpoint,
    Emitted,
    Fetched,
    Fetcher,
    FieldWarning,
    Mapped,
    Rejected,
    Skipped,
    State,
    Stream,
)
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.framework.reasons import validation_reason
from connectors.web.community import community_payload, is_community
from connectors.web.config import JsonLdPagesConfig
from connectors.web.event import event_payload, is_event
from connectors.web.html import BlockError, Extraction, extract_jsonld, parse_block
from connectors.web.values import Left, Node, Page, bounded_id, read_page, text
from schema.models import CommunityData, EventData, Listing
from schema.taxonomy import EntityType

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_JSON_TYPES = ("application/ld+json", "application/json")

Mapper = Callable[[Page, Node, JsonLdPagesConfig, list[Left]], dict[str, Any]]


def page_jsonld(fetched: Fetched) -> Extraction:
    """The JSON-LD of a response: an HTML page's blocks, or a JSON-LD document itself."""
    content_type = fetched.headers.get("content-type", "")
    charset = _CHARSET.search(content_type)
    if content_type.split(";")[0].strip().lower() in _JSON_TYPES:
        found = Extraction()
        text = fetched.body.decode("utf-8", errors="replace")
        try:
            found.blocks.append(parse_block(text))
        except ValueError as error:
            found.errors.append(BlockError(0, str(error), text[:500]))
        return found
    return extract_jsonld(fetched.body, charset=charset.group(1) if charset else None)


@dataclass(frozen=True)
class _Kind:
    entity: EntityType
    name: str
    model: type[BaseModel]
    mapper: Mapper
    accepts: Callable[[Page, Node, JsonLdPagesConfig], bool]


EVENTS = _Kind(
    EntityType.EVENT,
    "events",
    EventData,
    event_payload,
    lambda page, node, config: is_event(page, node, config.format_by_type),
)
COMMUNITIES = _Kind(
    EntityType.COMMUNITY, "communities", CommunityData, community_payload, is_community
)


@dataclass
class JsonLdStream:
    source_id: str
    config: JsonLdPagesConfig
    fetcher: Fetcher
    kind: _Kind
    # Every kind the source reads; the stream that comes first reports the nodes none
    # of them takes as `Skipped` (a page's band, its WebPage and BreadcrumbList nodes).
    kinds: tuple[_Kind, ...] = ()

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def entity(self) -> EntityType:
        return self.kind.entity

    @property
    def primary_key(self) -> tuple[str, ...]:
        return ("@id", "url")

    @property
    def replication_key(self) -> str | None:
        return None

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        pages, start = _read_state(state)
        urls = self.config.urls
        start = min(start, len(urls))
        # external id -> start time, to tell a repeat of one record from a clash of two
        seen: dict[str, str | None] = {}
        for position in range(start, len(urls)):
            url = urls[position]
            known = pages.get(url, {})
            fetched = await self.fetcher.get(
                url, etag=known.get("etag"), last_modified=known.get("last_modified")
            )
            if not fetched.not_modified:
                for item in self._page(url, fetched, seen):
                    yield item
                pages[url] = fetched.validators
            yield Checkpoint({"pages": _kept(pages, urls), "position": position + 1})
        yield Checkpoint({"pages": _kept(pages, urls)})

    def _page(self, url: str, fetched: Fetched, seen: dict[str, str | None]) -> Iterator[Emitted]:
        found = page_jsonld(fetched)
        for error in found.errors:
            yield Rejected(
                f"invalid JSON-LD block {error.index} on {url}: {error.message}",
                external_id=f"{url}#block-{error.index}",
                raw=error.text,
            )
        # Relative @id and url values resolve against where the page really was.
        page = read_page(fetched.url or url, found.blocks)
        reports_skipped = bool(self.kinds) and self.kinds[0] is self.kind
        for index, node in enumerate(page.nodes):
            if self.kind.accepts(page, node, self.config):
                external_id = page.reference(node) or bounded_id(f"{url}#{index}")
                yield from self._record(page, node, external_id, seen)
            elif reports_skipped and not any(
                kind.accepts(page, node, self.config) for kind in self.kinds
            ):
                yield _skipped(page, node, url, index, self.kinds)

    def _record(
        self, page: Page, node: Node, external_id: str, seen: dict[str, str | None]
    ) -> Iterator[Emitted]:
        left: list[Left] = []
        try:
            payload = self.kind.mapper(page, node, self.config, left)
            self.kind.model.model_validate(payload)
        except SkippableRecord as skipped:
            yield Rejected(f"{skipped.reason} (on {page.url})", external_id, dict(node))
            return
        except ValidationError as error:
            reason = validation_reason(error, whole="payload")
            yield Rejected(f"{reason} (on {page.url})", external_id, dict(node))
            return
        starts = payload.get("starts_at")
        if external_id in seen:
            # The same record on two pages (a list and its detail page): keep the first.
            # The same id with another start (dates of a series sharing one URL): a new id.
            if seen[external_id] == starts or starts is None:
                return
            external_id = bounded_id(f"{external_id}#{starts}")
            if external_id in seen:
                return
        seen[external_id] = starts
        for field, raw, message in left:
            yield FieldWarning(external_id, field, raw, f"{message} (on {page.url})")
        yield Listing(
            entity=self.kind.entity,
            source_id=self.source_id,
            external_id=external_id,
            payload=payload,
            url=payload.get("url") or payload.get("website") or page.url,
        )

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A node kept unmapped (`_record`'s raw), mapped with today's configuration; its
        page is the node alone (other nodes of the page it named are not stored)."""
        if entity is not self.kind.entity or not isinstance(raw, dict):
            return None  # an invalid block's text: only its page can be read again
        base = external_id if external_id.startswith(("http", "file:")) else self.config.urls[0]
        page = read_page(base.partition("#")[0], [raw])
        return [
            item
            for item in self._record(page, raw, external_id, {})
            if isinstance(item, Listing | Rejected | FieldWarning)
        ]


def _skipped(page: Page, node: Node, url: str, index: int, kinds: tuple[_Kind, ...]) -> Skipped:
    types = "/".join(page.types(node)) or "a node without a type"
    name = text(node.get("name"))
    wanted = [
        ("an " if kind.entity.value[0] in "aeiou" else "a ") + kind.entity.value for kind in kinds
    ]
    why = f"not {wanted[0]}" if len(wanted) == 1 else "neither " + " nor ".join(wanted)
    what = f"{types} {name!r}" if name else types
    return Skipped(
        f"{what} on {page.url}: {why}",
        page.reference(node) or bounded_id(f"{url}#{index}"),
    )


def _read_state(state: State | None) -> tuple[dict[str, dict[str, str]], int]:
    """Validators per page and the next position; a state of another shape is fatal."""
    state = state or {}
    pages, position = state.get("pages") or {}, state.get("position") or 0
    valid = (
        isinstance(pages, Mapping)
        and all(
            isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values())
            for v in pages.values()
        )
        and isinstance(position, int)
        and position >= 0
    )
    if not valid:
        raise FatalError(f"checkpointed state {dict(state)!r} is not a JSON-LD pages state")
    return {str(url): dict(v) for url, v in pages.items()}, position


def _kept(pages: dict[str, dict[str, str]], urls: Sequence[str]) -> dict[str, dict[str, str]]:
    """Validators of the configured pages only (a page removed from the list is forgotten)."""
    return {url: dict(pages[url]) for url in urls if pages.get(url)}


@dataclass(frozen=True)
class JsonLdPagesConnector:
    source_id: str
    config: JsonLdPagesConfig
    fetcher: Fetcher

    def streams(self) -> Sequence[Stream]:
        kinds = [EVENTS] if self.config.wants_events else []
        kinds += [COMMUNITIES] if self.config.wants_communities else []
        return [
            JsonLdStream(self.source_id, self.config, self.fetcher, kind, tuple(kinds))
            for kind in kinds
        ]
