"""Reading HTML without a browser: JSON-LD blocks and plain text.

`extract_jsonld(html)` is pure: bytes or text in, the parsed blocks out. It never
fetches anything, so a page's remote `@context` is not dereferenced. A block
that is not valid JSON is reported with its position and the others are still
used; one careless block must not hide the good ones on the same page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

_JSONLD_TYPE = "application/ld+json"
# Sites wrap script bodies in comment or CDATA markers left over from XHTML days,
# sometimes commented out for JavaScript (`//<![CDATA[`).
_WRAPPERS = (
    re.compile(r"^\s*(?://\s*)?<!\[CDATA\[(.*?)(?://\s*)?\]\]>\s*$", re.DOTALL),
    re.compile(r"^\s*<!--(.*?)-->\s*$", re.DOTALL),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    "p br div li ul ol tr table h1 h2 h3 h4 h5 h6 section article header footer "
    "blockquote pre hr dt dd".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


@dataclass(frozen=True)
class BlockError:
    """One `<script type="application/ld+json">` that could not be read."""

    index: int  # position among the page's JSON-LD blocks, from 0
    message: str
    text: str  # the start of the block, for an admin to look at


@dataclass
class Extraction:
    blocks: list[Any] = field(default_factory=list)  # each block's parsed JSON value
    errors: list[BlockError] = field(default_factory=list)


def decode_html(body: bytes, charset: str | None = None) -> str:
    """The page's text: the HTTP charset, else a BOM or `<meta charset>`, else UTF-8."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace")
    if charset is None:
        found = _META_CHARSET.search(body[:4096])
        charset = found.group(1).decode("ascii") if found else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # a charset name Python does not know
        return body.decode("utf-8", errors="replace")


class _ScriptCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "script":
            return
        kind = next((value or "" for name, value in attrs if name == "type"), "")
        # `application/ld+json; charset=utf-8` happens; the media type is what counts.
        if kind.split(";")[0].strip().lower() == _JSONLD_TYPE:
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None

    def close(self) -> None:
        super().close()
        self.handle_endtag("script")  # a page cut off inside its last block


def unwrap(text: str) -> str:
    for wrapper in _WRAPPERS:
        matched = wrapper.match(text)
        if matched:
            text = matched.group(1)
    return text.strip()


def parse_block(text: str) -> Any:
    """One block's JSON; raises ValueError with the parser's message."""
    # strict=False lets raw newlines and tabs inside strings through: common in
    # hand-written descriptions and harmless. Everything else must be valid JSON.
    try:
        return json.loads(unwrap(text), strict=False)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def extract_jsonld(html: bytes | str, *, charset: str | None = None) -> Extraction:
    text = html if isinstance(html, str) else decode_html(html, charset)
    collector = _ScriptCollector()
    collector.feed(text)
    collector.close()
    found = Extraction()
    for index, script in enumerate(collector.scripts):
        try:
            found.blocks.append(parse_block(script))
        except ValueError as error:
            found.errors.append(BlockError(index, str(error), script.strip()[:500]))
    return found


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Readable text of an HTML fragment: tags dropped, entities decoded, paragraphs kept."""
    collector = _TextCollector()
    collector.feed(fragment)
    collector.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(collector.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
