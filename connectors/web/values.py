"""Reading schema.org values as sites write them, without a JSON-LD processor.

No remote `@context` is ever fetched (that would be an outbound request chosen by
the page). Instead `@context` is read as plain data: types and enumeration values
are recognised bare (`Event`), as full URLs (`http://schema.org/Event`,
`https://schema.org/Event`), as `schema:Event`, or under any prefix the page's own
`@context` maps to schema.org. Properties are read by their bare names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from connectors.framework.countries import country_code as country_code_of
from connectors.web.html import html_to_text

Node = Mapping[str, Any]
# A value a mapper left out of a payload: (payload field, the value as written, why).
# The stream turns each into a `FieldWarning` an admin can list.
Left = tuple[str, Any, str]

_SCHEMA_URL = re.compile(r"^https?://(?:www\.)?schema\.org/?", re.IGNORECASE)
_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)
_MAX_ID = 200  # schema.models.ExternalId
# Real pages nest a few levels; a hostile one could nest hundreds (json.loads allows it).
_MAX_DEPTH = 32


@dataclass
class Page:
    """The nodes found on one page, with what is needed to read them."""

    url: str
    nodes: list[Node] = field(default_factory=list)
    prefixes: set[str] = field(default_factory=lambda: {"schema"})
    by_id: dict[str, Node] = field(default_factory=dict)

    def term(self, value: Any) -> str | None:
        """A schema.org type or enumeration member as its bare name (`EventCancelled`)."""
        if isinstance(value, Mapping):
            value = value.get("@id")
        if not isinstance(value, str) or not value.strip():
            return None
        name = _SCHEMA_URL.sub("", value.strip())
        prefix, colon, local = name.partition(":")
        if colon and prefix in self.prefixes:
            return local
        return name

    def types(self, node: Node) -> list[str]:
        return [t for t in (self.term(v) for v in as_list(node.get("@type"))) if t]

    def resolve(self, value: Any) -> Any:
        """A bare `{"@id": ...}` reference replaced by the node it names on this page."""
        if isinstance(value, Mapping) and set(value) == {"@id"}:
            return self.by_id.get(self.absolute(value["@id"]) or "", value)
        return value

    def absolute(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        return urljoin(self.url, value.strip())

    def url_of(self, value: Any) -> str | None:
        """An absolute http(s) URL (relative ones resolved against the page), else None."""
        if isinstance(value, Mapping):
            value = value.get("url") or value.get("@id")
        found = self.absolute(first(value))
        return found if found and _ABSOLUTE.match(found) and urlsplit(found).hostname else None

    def reference(self, node: Any) -> str | None:
        """The external id a node is known by: its `@id`, else its `url`."""
        if not isinstance(node, Mapping):
            return None
        found = self.absolute(node.get("@id")) or self.url_of(node.get("url"))
        return bounded_id(found) if found else None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def first(value: Any) -> Any:
    items = as_list(value)
    return items[0] if items else None


def text(value: Any) -> str | None:
    """The first non-empty string of a value (plain, `@value` or a list of either)."""
    for item in as_list(value):
        if isinstance(item, Mapping):
            item = item.get("@value", item.get("name"))
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str) and item.strip():
            return item.strip()
    return None


def texts(value: Any) -> list[str]:
    found = (text(item) for item in as_list(value))
    return [item for item in found if item]


def language_tagged(value: Any) -> dict[str, str]:
    """`{"@value": ..., "@language": "ru-RU"}` items, keyed by ru/en; others ignored."""
    found: dict[str, str] = {}
    for item in as_list(value):
        if isinstance(item, Mapping) and isinstance(item.get("@language"), str):
            lang = item["@language"].lower()[:2]
            content = text(item)
            if lang in ("ru", "en") and content:
                found.setdefault(lang, content)
    return found


def clip(value: str, limit: int) -> str:
    """Cut to `limit` characters (a too-long description must not reject the record)."""
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def localized(value: Any, language: str, *, limit: int = 10_000) -> dict[str, str] | None:
    """A LocalizedText payload: tagged values in their language, plain text in `language`.

    Descriptions often carry HTML (or entities) inside the JSON string; it becomes text.
    """
    found = language_tagged(value)
    plain = text(value)
    if not found and plain:
        found = {language: plain}
    cleaned = {lang: clip(html_to_text(content), limit) for lang, content in found.items()}
    return {lang: content for lang, content in cleaned.items() if content} or None


def read_country(value: Any) -> tuple[str | None, str | None]:
    """(ISO 3166-1 alpha-2 code, None) from a code, a name in any language or a `Country`
    node (connectors.framework.countries); (None, the text as written) when the value
    names no country we know, so the caller keeps it as a warning; (None, None) if empty."""
    candidates: list[Any] = []
    for item in as_list(value):
        if isinstance(item, Mapping):
            candidates += [item.get("identifier"), item.get("alternateName"), item.get("name")]
        else:
            candidates.append(item)
    written = None
    for candidate in candidates:
        name = text(candidate)
        if not name:
            continue
        code = country_code_of(name)
        if code is not None:
            return code, None
        written = written or name
    return None, written


def country_code(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code from a code, a name or a `Country` node, else None."""
    return read_country(value)[0]


def number(value: Any) -> float | None:
    """A number written as a number or as a string ("40.66", "1 500,00")."""
    value = first(value)
    if isinstance(value, Mapping):
        value = value.get("@value", value.get("value"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        cleaned = re.sub(r"[\s\u00a0]", "", value).replace(",", ".")
        try:
            return float(cleaned)
        except ValueError:
            return None
    return None


def bounded_id(value: str) -> str:
    """An external id within the schema's length; long ones become a stable digest."""
    if len(value) <= _MAX_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def walk_nodes(block: Any, depth: int = 0) -> Iterator[Node]:
    """Top-level nodes of a block: the object, array items, `@graph` and ItemList members."""
    if depth > _MAX_DEPTH:
        return
    for item in as_list(block):
        if isinstance(item, list):
            yield from walk_nodes(item, depth + 1)
        elif isinstance(item, Mapping):
            if "@graph" in item:
                yield from walk_nodes(item["@graph"], depth + 1)
            if "@type" in item:
                yield item
            # Event listing pages wrap their events in an ItemList of ListItems.
            for element in as_list(item.get("itemListElement")):
                if isinstance(element, Mapping):
                    inner = element.get("item")
                    yield from walk_nodes(inner if isinstance(inner, Mapping) else [], depth + 1)


def _context_prefixes(block: Any, into: set[str]) -> None:
    for item in as_list(block):
        if not isinstance(item, Mapping):
            continue
        for context in as_list(item.get("@context")):
            if isinstance(context, Mapping):
                for prefix, target in context.items():
                    if isinstance(target, str) and _SCHEMA_URL.match(target):
                        into.add(prefix)


def _index(node: Any, page: Page, depth: int = 0) -> None:
    """Every node with an `@id`, nested ones included, for resolving references."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            _index(item, page, depth + 1)
    elif isinstance(node, Mapping):
        found = page.absolute(node.get("@id"))
        if found and set(node) != {"@id"}:
            page.by_id.setdefault(found, node)
        for value in node.values():
            if isinstance(value, list | Mapping):
                _index(value, page, depth + 1)


def read_page(url: str, blocks: list[Any]) -> Page:
    page = Page(url=url)
    for block in blocks:
        _context_prefixes(block, page.prefixes)
        _index(block, page)
        page.nodes.extend(walk_nodes(block))
    return page
