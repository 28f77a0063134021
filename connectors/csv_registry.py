"""CSV registries: a large file of organisations, streamed, parsed and mapped row by row.

    {"url": "https://registry.example/reestr.csv",
     "mapping": {...},              # connectors.framework.mapping.FieldMapping over column names
     "encoding": null,              # detected: connectors.framework.charsets
     "delimiter": null,             # detected among ';' ',' TAB from the first lines
     "checkpoint_every": 1000}      # rows between checkpoints

The file is never held whole: `CsvParser` is a push parser (bytes in, rows out) whose
buffers are bounded by the encoding sample and one record. Quoting is RFC 4180 as the
csv module reads it; lines end with LF or CRLF (a lone CR, old Mac style, does not end
a line). Cells stay text exactly as written, so an ИНН such as 0278123456 keeps its
leading zero.

Encodings (connectors.framework.charsets): the configured one, else a BOM, else told
from the bytes, never guessed silently: a file that cannot be decoded with confidence
is a FatalError naming the `encoding` option. Bytes the chosen encoding cannot decode
leave out only the row holding them, as a problem naming the encoding and the byte
offset (an undecodable header is fatal); every other row is read as written.

Columns: the mapping's column names are matched to the header's after normalization
(connectors.framework.columns: case, surrounding and non-breaking spaces, ё/е); a name
matching no column fails the run before its first row, listing the file's columns,
and `read_columns` lets a source be checked when it is saved.

Stream state: {"etag", "last_modified", "rows"}. `rows` (rows already emitted, valid
or rejected) is present only mid-file; a resumed run downloads the file again and
skips that many rows if the validators still match. A finished run keeps only the
validators, so the next run asks "changed since?" and a 304 ends it at once.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.framework.charsets import Decoded, StreamDecoder
from connectors.framework.conditional import Validators
from connectors.framework.contract import (
    Checkpoint,
    Emitted,
    Fetcher,
    Mapped,
    Rejected,
    State,
    StreamedBody,
)
from connectors.framework.errors import FatalError
from connectors.framework.mapping import FieldMapping, MappedStream, map_record
from connectors.framework.urls import source_url
from schema.taxonomy import EntityType

SAMPLE_BYTES = 64 * 1024
MAX_RECORD_CHARS = 1 << 20
_DELIMITERS = (";", "\t", ",")  # the order breaks ties
_SNIFF_LINES = 6


class CsvRow(dict[str, str]):
    """One data row: column -> cell text. `line` is the line it starts on (the header
    is line 1 unless blank lines precede it); `problem` says why the row does not fit
    the header, and `extra` holds the cells beyond the last column."""

    __slots__ = ("extra", "line", "problem")

    def __init__(
        self,
        cells: Iterable[tuple[str, str]],
        *,
        line: int,
        problem: str | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(cells)
        self.line = line
        self.problem = problem
        self.extra = tuple(extra)


_QUOTED = re.compile(r'"[^"]*"')


def sniff_delimiter(sample: str, *, complete: bool = False) -> str:
    """The delimiter among ';' TAB ',' that splits the header into the most columns,
    preferring one that splits the next lines into as many (quoted text ignored).
    `complete`: the sample is the whole file, so its last line is whole too."""
    logical: list[str] = []
    pending: str | None = None  # a line inside a quoted cell, waiting for the rest
    for piece in sample.split("\n"):
        pending = piece if pending is None else f"{pending}\n{piece}"
        if pending.count('"') % 2 == 0:
            logical.append(pending)
            pending = None
        if len(logical) > _SNIFF_LINES:
            break
    else:
        if pending is not None:
            logical.append(pending)
        if len(logical) > 1 and not complete and not sample.endswith("\n"):
            logical.pop()  # the last line may be cut short
    lines = [_QUOTED.sub("", line) for line in logical if line.strip()]
    if not lines:
        return ","

    def score(delimiter: str) -> tuple[bool, int]:
        counts = [line.count(delimiter) for line in lines]
        consistent = counts[0] > 0 and all(count == counts[0] for count in counts[1:])
        return consistent, counts[0]

    best = max(_DELIMITERS, key=score)  # max keeps the first of equals
    return best if score(best)[1] > 0 else ","


def _still_quoted(line: str, quoted: bool, delimiter: str) -> bool:
    """Whether `line` ends inside a quoted cell, read as the csv module reads it: a quote
    opens a cell only at the cell's start, and "" inside a quoted cell is a quote."""
    at_start, i, end = not quoted, 0, len(line)
    while i < end:
        if quoted:
            close = line.find('"', i)
            if close < 0:
                return True
            if line.startswith('"', close + 1):
                i = close + 2
            else:
                quoted, at_start, i = False, False, close + 1
        elif at_start and line[i] == '"':
            quoted, i = True, i + 1
        else:
            found = line.find(delimiter, i)
            if found < 0:
                return False
            at_start, i = True, found + 1
    return quoted


class _Records:
    """Text to whole records: a line, or several while a quoted cell spans lines.
    Holds at most one record plus a partial line; a longer one is a fatal error
    (an unbalanced quote would otherwise swallow the rest of the file)."""

    def __init__(self, delimiter: str, max_chars: int) -> None:
        self.delimiter = delimiter
        self._max = max_chars
        self._partial: list[str] = []  # text after the last newline
        self._partial_size = 0
        self._parts: list[str] = []  # lines of a record still inside quotes
        self._size = 0
        self._quoted = False
        self._line = 1  # the physical line read next
        self._start = 1  # where the record in progress began

    def push(self, text: str, *, final: bool) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        if "\n" in text:
            self._partial.append(text)
            *lines, last = "".join(self._partial).split("\n")
            self._partial, self._partial_size = [last], len(last)
            for line in lines:
                self._add(line + "\n", out)
        elif text:
            self._partial.append(text)
            self._partial_size += len(text)
        if final:
            rest = "".join(self._partial)
            self._partial, self._partial_size = [], 0
            if rest:
                self._add(rest, out)
            if self._parts:
                raise FatalError(f"line {self._start}: a quoted cell is never closed")
        elif self._size + self._partial_size > self._max:
            raise FatalError(
                f"line {self._start}: a record runs over {self._max} characters; "
                "is a quote missing, or the delimiter or encoding wrong?"
            )
        return out

    def _add(self, line: str, out: list[tuple[int, str]]) -> None:
        if not self._parts:
            self._start = self._line
        self._line += 1
        if not self._quoted and '"' not in line:
            out.append((self._start, line))  # the common case, no scanning
            return
        self._parts.append(line)
        self._size += len(line)
        self._quoted = _still_quoted(line, self._quoted, self.delimiter)
        if not self._quoted:
            out.append((self._start, "".join(self._parts)))
            self._parts, self._size = [], 0


def _header(cells: list[str], line: int) -> tuple[str, ...]:
    # Whitespace (line breaks in a quoted header, NBSP) collapses to one space.
    names = [" ".join(cell.replace("\ufeff", "").split()) for cell in cells]
    while names and not names[-1]:
        names.pop()  # a trailing delimiter is an export artefact, not a column
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise FatalError(f"CSV header (line {line}): column {number} has no name")
        if name in seen:
            raise FatalError(
                f"CSV header (line {line}): column {name!r} appears twice "
                f"(columns {seen[name]} and {number})"
            )
        seen[name] = number
    return tuple(names)


class CsvParser:
    """A streaming push parser: `feed(chunk)` returns the rows completed so far,
    `close()` the rest. Pure: no I/O, memory bounded by the sample and one record."""

    def __init__(
        self,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        sample_size: int = SAMPLE_BYTES,
        max_record_chars: int = MAX_RECORD_CHARS,
    ) -> None:
        self._decoder = StreamDecoder(encoding, sample_size)
        self._lines = 0  # line breaks in the text decoded so far
        # (line, byte offset, reason) of undecodable bytes not yet matched to their row
        self._undecodable: deque[tuple[int, int, str]] = deque()
        self._sample_size = sample_size
        self._max = max_record_chars
        self.delimiter = delimiter
        self._text: list[str] = []  # decoded text held until the delimiter is known
        self._text_size = 0
        self._text_lines = 0
        self._records = _Records(delimiter, max_record_chars) if delimiter else None
        self.headers: tuple[str, ...] | None = None

    @property
    def encoding(self) -> str | None:
        return self._decoder.encoding

    def feed(self, chunk: bytes) -> list[CsvRow]:
        return self._parse(self._located(self._decoder.decode(chunk, final=False)), final=False)

    def close(self) -> list[CsvRow]:
        rows = self._parse(self._located(self._decoder.decode(b"", final=True)), final=True)
        if self.headers is None:
            raise FatalError("the CSV file is empty: no header line")
        return rows

    def _located(self, decoded: Decoded) -> str:
        """The decoded text, its undecodable places noted by the line they are on."""
        text = decoded.text
        for place in decoded.undecodable:
            line = self._lines + text.count("\n", 0, place.at) + 1
            self._undecodable.append((line, place.offset, place.reason))
        self._lines += text.count("\n")
        return text

    def _undecodable_in(self, first: int, record: str) -> list[tuple[int, str]]:
        """(byte offset, reason) of the undecodable places on the record's lines."""
        last = first + record.count("\n", 0, len(record) - 1)
        found: list[tuple[int, str]] = []
        while self._undecodable and self._undecodable[0][0] <= last:
            line, offset, reason = self._undecodable.popleft()
            if line >= first:
                found.append((offset, reason))
        return found

    def _parse(self, text: str, *, final: bool) -> list[CsvRow]:
        if self._records is None:
            self._text.append(text)
            self._text_size += len(text)
            self._text_lines += text.count("\n")
            # Sniff from a few whole lines, or from one if lines are long.
            enough = self._text_lines > _SNIFF_LINES or (
                self._text_lines > 0 and self._text_size >= self._sample_size
            )
            if not (final or enough or self._text_size > self._max):
                return []
            sample = "".join(self._text)
            self._text, self._text_size = [], 0
            self.delimiter = sniff_delimiter(sample, complete=final)
            self._records = _Records(self.delimiter, self._max)
            text = sample
        rows: list[CsvRow] = []
        for line, record in self._records.push(text, final=final):
            undecodable = self._undecodable_in(line, record) if self._undecodable else []
            row = self._row(line, record, self._records.delimiter, undecodable)
            if row is not None:
                rows.append(row)
        return rows

    def _row(
        self, line: int, record: str, delimiter: str, undecodable: list[tuple[int, str]]
    ) -> CsvRow | None:
        damage = self._damage(undecodable)
        if damage and self.headers is None:
            raise FatalError(
                f"CSV header (line {line}): {damage}; "
                "set the source's 'encoding' if the file is in another"
            )
        try:
            cells = next(csv.reader([record], delimiter=delimiter, strict=False), [])
        except csv.Error as error:
            if self.headers is None:
                raise FatalError(f"CSV header (line {line}): {error}") from None
            return CsvRow((), line=line, problem=f"line {line}: {error}", extra=[record])
        if not any(cell.strip() for cell in cells):
            return None  # a blank line, or one of delimiters only
        if self.headers is None:
            self.headers = _header(cells, line)
            return None
        width = len(self.headers)
        extra = cells[width:]
        problem = None
        if damage:
            problem = f"line {line}: {damage}; the row is left out"
        elif any(cell.strip() for cell in extra):
            problem = f"line {line}: {len(cells)} cells for {width} columns"
        # Short rows are padded: some exporters drop trailing empty cells.
        cells = cells[:width] + [""] * (width - len(cells))
        return CsvRow(
            zip(self.headers, cells, strict=True), line=line, problem=problem, extra=extra
        )

    def _damage(self, undecodable: list[tuple[int, str]]) -> str | None:
        if not undecodable:
            return None
        offset, reason = undecodable[0]
        more = f", and {len(undecodable) - 1} more in this row" if len(undecodable) > 1 else ""
        return f"byte {offset} is not valid {self.encoding} ({reason}){more}"


class CsvRegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="the registry file: http(s), or file:// for a local one")
    mapping: FieldMapping = Field(description="columns -> fields (docs/sources.md, Mappings)")
    encoding: str | None = Field(default=None, description="override the detected encoding")
    delimiter: str | None = Field(default=None, description="override the detected delimiter")
    checkpoint_every: int = Field(default=1000, ge=1, description="rows between checkpoints")
    stream: str = Field(
        default="registry", min_length=1, max_length=60, description="the stream's name"
    )

    _url = field_validator("url")(source_url)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. 'utf-8', 'cp1251'") from None

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in '"\r\n'):
            raise ValueError("one character other than a quote or a line break, e.g. ';'")
        return value


@dataclass(frozen=True)
class _Position:
    validators: Validators = field(default_factory=Validators)
    rows: int = 0

    @classmethod
    def of(cls, state: State | None) -> _Position:
        if not state:
            return cls()
        etag, modified, rows = state.get("etag"), state.get("last_modified"), state.get("rows", 0)
        if (
            not isinstance(etag, str | None)
            or not isinstance(modified, str | None)
            or not isinstance(rows, int)
            or isinstance(rows, bool)
            or rows < 0
        ):
            raise FatalError(f"checkpointed state {dict(state)!r} is not a CSV registry state")
        return cls(Validators(etag, modified), rows)

    def same_file(self, now: Validators) -> bool:
        saved = self.validators
        if saved.etag and now.etag:
            return saved.etag == now.etag
        if saved.last_modified and now.last_modified:
            return saved.last_modified == now.last_modified
        return True  # nothing to compare: trust the saved position


class CsvRegistryStream(MappedStream):
    def __init__(self, source_id: str, config: CsvRegistryConfig, fetcher: Fetcher) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self.name = config.stream
        self.mapping = config.mapping

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        config = self._config
        saved = _Position.of(state)
        resuming = saved.rows > 0
        # A half-read file needs its body again: no conditional GET then.
        async with self._fetcher.stream(
            config.url,
            etag=None if resuming else saved.validators.etag,
            last_modified=None if resuming else saved.validators.last_modified,
        ) as body:
            if body.status == 304:
                yield Checkpoint(saved.validators.state())
                return
            validators = Validators.of_response(body.headers)
            skip = saved.rows if resuming and saved.same_file(validators) else 0
            count = 0
            parser = CsvParser(encoding=config.encoding, delimiter=config.delimiter)
            mapping: FieldMapping | None = None
            async for row in _rows(body, parser):
                if mapping is None:
                    mapping = self.mapping.bind_columns(parser.headers or ())
                count += 1
                if count <= skip:
                    continue
                for item in self._emit(row, body.url, mapping):
                    yield item
                if count % config.checkpoint_every == 0:
                    yield Checkpoint({**validators.state(), "rows": count})
            if mapping is None:  # a header and no rows: its columns are checked all the same
                self.mapping.bind_columns(parser.headers or ())
        yield Checkpoint(validators.state())

    def _emit(self, row: CsvRow, read_from: str, mapping: FieldMapping) -> list[Mapped]:
        if row.problem is not None:
            return [Rejected(row.problem, raw={"cells": dict(row), "extra": list(row.extra)})]
        return map_record(
            mapping, self._source_id, dict(row), read_from=read_from, where=f"line {row.line}"
        )

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A row kept unmapped (column -> cell), mapped with today's mapping."""
        if entity is not self.mapping.entity or not isinstance(raw, dict):
            return None
        if set(raw) == {"cells", "extra"}:
            return None  # a row that did not fit the header: only the file can fix it
        try:
            mapping = self.mapping.bind_columns(list(raw))
        except FatalError as error:
            return [Rejected(str(error), external_id=external_id, raw=raw)]
        return map_record(mapping, self._source_id, raw)


async def read_columns(fetcher: Fetcher, url: str, config: CsvRegistryConfig) -> tuple[str, ...]:
    """The header of the file at `url`, reading no more of it than that (a source's
    mapping is checked against it when the source is saved)."""
    parser = CsvParser(encoding=config.encoding, delimiter=config.delimiter)
    async with fetcher.stream(url) as body:
        async for chunk in body.chunks():
            parser.feed(chunk)
            if parser.headers is not None:
                return parser.headers
    parser.close()
    return parser.headers or ()


async def _rows(body: StreamedBody, parser: CsvParser) -> AsyncIterator[CsvRow]:
    async for chunk in body.chunks():
        for row in parser.feed(chunk):
            yield row
    for row in parser.close():
        yield row


class CsvRegistryConnector:
    def __init__(self, source_id: str, config: CsvRegistryConfig, fetcher: Fetcher) -> None:
        self._stream = CsvRegistryStream(source_id, config, fetcher)

    def streams(self) -> Sequence[CsvRegistryStream]:
        return [self._stream]
