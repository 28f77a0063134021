"""iCalendar bytes -> top-level component blocks, read incrementally.

A feed arrives in arbitrary chunks. `BlockSplitter.feed` takes each chunk and
returns the `VTIMEZONE` and `VEVENT` blocks it completed, so a feed of any size
is held one block at a time. Lines are unfolded on bytes, before decoding: a
fold may fall inside a multi-byte UTF-8 character, and a chunk boundary may fall
anywhere (inside a line, between a CR and its LF, or just before a continuation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from connectors.framework.errors import FatalError, RetriableError

_BOM = b"\xef\xbb\xbf"
# Physical lines are meant to be 75 octets; a megabyte without a line break is
# not iCalendar (an HTML page, a binary) and would otherwise be buffered whole.
MAX_LINE_BYTES = 1 << 20
# A block this large is almost always inline attachments; it is rejected, not kept.
MAX_BLOCK_BYTES = 4 << 20
KEPT_BLOCKS = frozenset({"VEVENT", "VTIMEZONE"})
CALENDAR_PROPERTIES = frozenset({"X-WR-TIMEZONE", "X-WR-CALNAME"})


class LineUnfolder:
    """Physical lines in (as chunks), logical lines out, with folds joined."""

    def __init__(self) -> None:
        self._partial = bytearray()  # bytes after the last line break seen
        self._logical: bytearray | None = None  # may still get continuation lines
        self._started = False

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        if not self._started and chunk:
            self._started = True
            chunk = chunk.removeprefix(_BOM)
        self._partial += chunk
        *complete, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        for raw in complete:
            yield from self._physical(bytes(raw))
        if len(self._partial) > MAX_LINE_BYTES:
            raise FatalError(f"a line longer than {MAX_LINE_BYTES} bytes: not an iCalendar feed")

    def close(self) -> Iterator[bytes]:
        if self._partial:
            yield from self._physical(bytes(self._partial))
            self._partial = bytearray()
        if self._logical is not None:
            yield bytes(self._logical)
            self._logical = None

    def _physical(self, raw: bytes) -> Iterator[bytes]:
        raw = raw.removesuffix(b"\r")
        if raw[:1] in (b" ", b"\t") and self._logical is not None:
            self._logical += raw[1:]
            return
        if self._logical is not None:
            yield bytes(self._logical)
        self._logical = bytearray(raw)


@dataclass
class Block:
    """One top-level component as logical lines (BEGIN and END included)."""

    kind: str
    line_no: int  # of its BEGIN line, in unfolded lines (= physical ones if nothing is folded)
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    problem: str | None = None  # set when the block is known to be unusable

    def add(self, line: bytes) -> None:
        self.size += len(line)
        if self.size > MAX_BLOCK_BYTES:
            if self.problem is None:
                self.problem = f"{self.kind} at line {self.line_no} is over {MAX_BLOCK_BYTES} bytes"
            self.lines = [line for line in self.lines if line.upper().startswith(b"UID")]
            return
        self.lines.append(line)

    def text(self) -> tuple[str, bool]:
        """The block as text, and whether bytes had to be replaced (not UTF-8)."""
        raw = b"\r\n".join(self.lines)
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace"), True

    def sniff_uid(self) -> str | None:
        """The UID read without a parser: for naming a block that could not be parsed."""
        for line in self.lines:
            name, sep, value = line.partition(b":")
            if sep and name.split(b";")[0].strip().upper() == b"UID":
                return value.decode("utf-8", errors="replace").strip() or None
        return None


class BlockSplitter:
    """Chunks in, completed VEVENT/VTIMEZONE blocks out; other components are skipped."""

    def __init__(self) -> None:
        self._unfolder = LineUnfolder()
        self._stack: list[str] = []  # open components, outermost first
        self._block: Block | None = None
        self._line_no = 0
        self._calendars = 0
        self.calendar_properties: dict[str, str] = {}
        self.skipped: dict[str, int] = {}  # components we do not read, by name

    def feed(self, chunk: bytes) -> Iterator[Block]:
        for line in self._unfolder.feed(chunk):
            yield from self._line(line)

    def close(self) -> Iterator[Block]:
        for line in self._unfolder.close():
            yield from self._line(line)
        if self._calendars == 0:
            raise FatalError("not an iCalendar feed: no BEGIN:VCALENDAR")
        if self._block is not None or len(self._stack) > 1:
            # The body stopped inside a component: a transfer cut short, worth a retry.
            raise RetriableError("the feed ended inside a component (body cut short?)")

    def _line(self, line: bytes) -> Iterator[Block]:
        self._line_no += 1
        if not line.strip():
            return
        name, _, value = line.partition(b":")
        keyword = name.strip().upper()
        if keyword == b"BEGIN":
            yield from self._begin(value.strip().upper().decode("ascii", errors="replace"), line)
        elif keyword == b"END":
            yield from self._end(value.strip().upper().decode("ascii", errors="replace"), line)
        elif self._block is not None:
            self._block.add(line)
        elif len(self._stack) == 1:
            self._calendar_property(name, value)
        elif not self._stack and self._calendars == 0:
            # Text before any BEGIN:VCALENDAR: an HTML page, a JSON error, a login form.
            # (Text after END:VCALENDAR is ignored: some servers append a footer.)
            raise FatalError(f"not an iCalendar feed: line {self._line_no} is outside VCALENDAR")

    def _begin(self, kind: str, line: bytes) -> Iterator[Block]:
        if not self._stack:
            if kind != "VCALENDAR":
                raise FatalError(f"not an iCalendar feed: line {self._line_no} is BEGIN:{kind}")
            self._calendars += 1
        elif self._block is not None and kind in KEPT_BLOCKS:
            # A VEVENT cannot hold a VEVENT: the open one lost its END line.
            yield self._finish(self._block, "has no END line")
            del self._stack[1:]
            self._block = Block(kind, self._line_no)
        elif len(self._stack) == 1:
            if kind in KEPT_BLOCKS:
                self._block = Block(kind, self._line_no)
            else:
                self.skipped[kind] = self.skipped.get(kind, 0) + 1
        self._stack.append(kind)
        if self._block is not None:
            self._block.add(line)

    def _end(self, kind: str, line: bytes) -> Iterator[Block]:
        if kind not in self._stack:
            return  # a stray END line: nothing to close
        # Close whatever is still open inside `kind` (a VALARM missing its END).
        while self._stack[-1] != kind:
            self._stack.pop()
        self._stack.pop()
        block = self._block
        if block is None:
            return
        if len(self._stack) >= 2:
            block.add(line)  # the end of a VALARM inside the block
        elif kind == block.kind:
            block.add(line)
            yield self._finish(block, None)
        else:
            yield self._finish(block, "has no END line")

    def _finish(self, block: Block, problem: str | None) -> Block:
        self._block = None
        if problem is not None and block.problem is None:
            block.problem = f"{block.kind} at line {block.line_no} {problem}"
        return block

    def _calendar_property(self, name: bytes, value: bytes) -> None:
        key = name.split(b";")[0].strip().upper().decode("ascii", errors="replace")
        if key in CALENDAR_PROPERTIES:
            self.calendar_properties[key] = value.decode("utf-8", errors="replace").strip()
