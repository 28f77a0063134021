"""RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 documents -> feed items, parsed safely.

Parsing goes through defusedxml: a document declaring entities (billion laughs,
quadratic blow-up) or referring to external ones is refused outright, as is one
that is not well-formed; both are `FatalError`s naming the feed, since nothing in
such a document can be trusted. A DOCTYPE alone is allowed: old RSS 0.91 feeds
carry one, and expat never fetches the DTD it names.

Text fields are kept as HTML (Atom `type="text"` is escaped into HTML) so that one
path turns every summary and content into plain text, microformats or JSON-LD.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml
import defusedxml.ElementTree as SafeET

from connectors.framework.errors import FatalError

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


@dataclass(frozen=True)
class FeedItem:
    id: str | None  # RSS guid, Atom id
    title: str | None  # HTML
    link: str | None  # absolute
    summary: str | None  # HTML: RSS description, Atom summary
    content: str | None  # HTML: content:encoded, Atom content
    categories: list[str] = field(default_factory=list)
    # When the item was published: never the event's date, only a reference for
    # completing a date written without its year.
    published: datetime | None = None


@dataclass(frozen=True)
class Feed:
    format: str  # "rss", "rdf" or "atom"
    items: list[FeedItem]
    language: str | None = None


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    found = "".join(element.itertext()).strip()
    return found or None


def _when(value: str | None) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 (Atom, dc:date); None when unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_feed(body: bytes, *, url: str) -> Feed:
    """The feed's items; FatalError naming `url` when the document is refused or broken."""
    try:
        root = SafeET.fromstring(body)
    except defusedxml.DefusedXmlException as error:
        raise FatalError(
            f"feed {url} refused: {error} (entity declarations are not allowed)"
        ) from None
    except ParseError as error:
        raise FatalError(f"feed {url} is not well-formed XML: {error}") from None
    kind = local(root.tag)
    if kind == "feed" and namespace(root.tag) == ATOM:
        return Feed("atom", [_atom_item(e, url) for e in root if e.tag == f"{{{ATOM}}}entry"])
    if kind in ("rss", "RDF"):
        channel = next((e for e in root if local(e.tag) == "channel"), None)
        # RSS 2.0 items sit in <channel>; RSS 1.0 items are siblings of it.
        parent = channel if kind == "rss" and channel is not None else root
        items = [_rss_item(e, url) for e in parent if local(e.tag) == "item"]
        language = _text(channel.find("language")) if channel is not None else None
        return Feed("rss" if kind == "rss" else "rdf", items, language)
    raise FatalError(f"feed {url} is neither RSS nor Atom (its root element is <{kind}>)")


def _rss_item(item: Element, base: str) -> FeedItem:
    values: dict[str, str] = {}
    categories: list[str] = []
    guid_is_link = False
    for child in item:
        name, value = local(child.tag), _text(child)
        if value is None:
            continue
        if name in ("category", "subject"):  # dc:subject in RSS 1.0
            categories.append(value)
        elif name == "encoded" and namespace(child.tag) == CONTENT:
            values.setdefault("content", value)
        elif name in ("title", "link", "description", "guid", "pubDate", "date"):
            values.setdefault(name, value)
            if name == "guid":
                guid_is_link = child.get("isPermaLink", "true").lower() == "true"
    link = values.get("link") or (values.get("guid") if guid_is_link else None)
    return FeedItem(
        id=values.get("guid") or item.get(f"{{{_RDF}}}about"),
        title=values.get("title"),
        link=urljoin(base, link) if link else None,
        summary=values.get("description"),
        content=values.get("content"),
        categories=categories,
        published=_when(values.get("pubDate") or values.get("date")),
    )


def _atom_html(element: Element | None) -> str | None:
    """An Atom text construct as HTML, whatever its `type`."""
    if element is None:
        return None
    kind = element.get("type", "text")
    if kind == "xhtml":
        for node in element.iter():  # drop the XHTML namespace so tags read as HTML
            node.tag = local(node.tag)
        div = next(iter(element), None)
        if div is None:
            return None
        inner = (div.text or "") + "".join(tostring(c, encoding="unicode") for c in div)
        return inner.strip() or None
    value = "".join(element.itertext()).strip()
    if not value:
        return None
    return value if kind == "html" or "html" in kind else html.escape(value)


def _atom_link(entry: Element, base: str) -> str | None:
    links = entry.findall(f"{{{ATOM}}}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return urljoin(base, link.get("href", ""))
    return urljoin(base, links[0].get("href", "")) if links and links[0].get("href") else None


def _atom_item(entry: Element, base: str) -> FeedItem:
    def child(name: str) -> Element | None:
        return entry.find(f"{{{ATOM}}}{name}")

    categories = [
        c.get("label") or c.get("term") or ""
        for c in entry.findall(f"{{{ATOM}}}category")
        if c.get("label") or c.get("term")
    ]
    return FeedItem(
        id=_text(child("id")),
        title=_atom_html(child("title")),
        link=_atom_link(entry, base),
        summary=_atom_html(child("summary")),
        content=_atom_html(child("content")),
        categories=categories,
        published=_when(_text(child("published")) or _text(child("updated"))),
    )
