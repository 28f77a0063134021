"""Singer taps: JSON-lines messages from a tap's standard output, or from a file.

A file of Singer messages (`path`: a file:// URL or a path) is read like every kind's
local files: through the fetcher, only under the allowed roots.

A tap prints SCHEMA, RECORD and STATE messages (https://hub.meltano.com/singer/spec).
Each RECORD of a configured tap stream becomes a Listing through that stream's
FieldMapping; each STATE becomes a Checkpoint {"singer_state": value}, which the
next run hands back to the tap as `--state <file>` (the Singer convention), so a
resumed tap skips what it already sent. ACTIVATE_VERSION and unknown message types
are tolerated; records of tap streams without a mapping are counted and dropped.

One tap emits all its streams interleaved under one global state, so the tap is a
single guildgraph stream whose Listings may be of several entities: consumers go by
`Listing.entity`.

The command is admin configuration run as an argv list (no shell) with a minimal
environment: the worker's own variables (database URI, API secrets) never reach
third-party tap code; whatever the tap needs is given in `env`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.framework.contract import Checkpoint, Emitted, Fetcher, Mapped, Rejected, State
from connectors.framework.errors import FatalError, RetriableError
from connectors.framework.mapping import FieldMapping, map_record
from schema.taxonomy import EntityType

logger = logging.getLogger("guildgraph.connectors.singer")

_CHUNK = 64 * 1024
_STDERR_TAIL = 4096
# Variables a tap needs to start at all; everything else must be given explicitly.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class SingerConfig(BaseModel):
    """A tap's command line (or a file of its output) and a mapping per tap stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(default=None, description="argv, run without a shell")
    path: str | None = Field(
        default=None, description="a file of Singer messages instead: a file:// URL or a path"
    )
    env: dict[str, SecretStr] = Field(
        default_factory=dict, description="environment for the tap (tokens it needs)"
    )
    streams: dict[str, FieldMapping] = Field(
        min_length=1, description="tap stream name -> mapping of its records"
    )
    max_consecutive_malformed: int = Field(
        default=10, ge=0, description="malformed lines in a row before the run fails"
    )
    max_line_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="a longer line is one rejected record"
    )
    idle_timeout_seconds: float = Field(default=600, gt=0, description="silence before giving up")

    @field_validator("path")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        if value is not None and "://" in value and not value.startswith("file://"):
            raise ValueError("a local file: a path or a file:// URL")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> SingerConfig:
        if (self.command is None) == (self.path is None):
            raise ValueError("give exactly one of 'command' or 'path'")
        if self.command is not None and (not self.command or not all(self.command)):
            raise ValueError("command: a non-empty argv list of non-empty strings")
        return self


@dataclass
class SingerStats:
    """What a run saw besides listings, for the run's report."""

    records: int = 0
    malformed: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # tap stream -> records dropped
    message_types: Counter[str] = field(default_factory=Counter)


class SingerStream:
    """All the tap's mapped streams as one guildgraph stream (one process, one state)."""

    def __init__(self, source_id: str, config: SingerConfig, fetcher: Fetcher) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self.stats = SingerStats()

    @property
    def name(self) -> str:
        return "singer"

    @property
    def entity(self) -> EntityType:
        # Listings carry their own entity; this is the first mapping's, for display.
        return next(iter(self._config.streams.values())).entity

    @property
    def primary_key(self) -> tuple[str, ...]:
        key = next(iter(self._config.streams.values())).external_id
        return (key,) if isinstance(key, str) else tuple(key)

    @property
    def replication_key(self) -> str | None:
        return None  # the tap owns incremental logic; guildgraph only keeps its state

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        self.stats = SingerStats()
        singer_state = (state or {}).get("singer_state")
        command = self._config.command
        if command is None:
            # A file is a fixed capture: it is read whole; repeats are unchanged listings.
            source = _file_lines(self._fetcher, str(self._config.path), self._config.max_line_bytes)
        else:
            source = _tap_lines(command, self._config, singer_state)
        last_state = singer_state
        consecutive = 0
        async with contextlib.aclosing(source) as lines:
            async for number, line in lines:
                message = _parse(line, self._config.max_line_bytes)
                if isinstance(message, str):
                    self.stats.malformed += 1
                    consecutive += 1
                    if consecutive > self._config.max_consecutive_malformed:
                        raise FatalError(
                            f"line {number}: {consecutive} malformed lines in a row; "
                            f"the last: {message}"
                        )
                    yield Rejected(f"line {number}: {message}", raw=_preview(line))
                    continue
                consecutive = 0
                kind = str(message["type"]).upper()
                self.stats.message_types[kind] += 1
                if kind == "RECORD":
                    for item in self._record(number, message):
                        yield item
                elif kind == "STATE":
                    last_state = message.get("value")
                    yield Checkpoint({"singer_state": last_state})
                # SCHEMA, ACTIVATE_VERSION, BATCH and unknown types carry nothing to map.
        if self.stats.ignored:
            logger.info("singer: records of unmapped tap streams: %s", dict(self.stats.ignored))
        yield Checkpoint({"singer_state": last_state} if last_state is not None else {})

    def _record(self, number: int, message: Mapping[str, Any]) -> list[Mapped]:
        stream, record = message.get("stream"), message.get("record")
        if not isinstance(stream, str) or not isinstance(record, dict):
            self.stats.malformed += 1
            return [Rejected(f"line {number}: RECORD without a stream name and a record object")]
        mapping = self._config.streams.get(stream)
        if mapping is None:
            self.stats.ignored[stream] += 1
            return []
        self.stats.records += 1
        return self._mapped(stream, mapping, record, f"line {number}")

    def _mapped(
        self, stream: str, mapping: FieldMapping, record: dict[str, Any], where: str
    ) -> list[Mapped]:
        items = map_record(mapping, self._source_id, record, where=where)
        # A refused record keeps its tap stream's name: mapping it again needs it.
        kept = {"stream": stream, "record": record}
        return [replace(i, raw=kept) if isinstance(i, Rejected) else i for i in items]

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A record kept unmapped ({"stream", "record"}), mapped with today's mapping."""
        if not isinstance(raw, dict) or set(raw) != {"stream", "record"}:
            return None
        stream, record = raw["stream"], raw["record"]
        mapping = self._config.streams.get(stream) if isinstance(stream, str) else None
        if mapping is None or mapping.entity is not entity or not isinstance(record, dict):
            return None
        return self._mapped(stream, mapping, record, "")


class SingerTapConnector:
    """The connector: one Singer tap (or a capture of its output).

    The fetcher reads a capture file (under the allowed roots); a tap does its own
    fetching.
    """

    def __init__(self, source_id: str, config: SingerConfig, fetcher: Fetcher) -> None:
        self._stream = SingerStream(source_id, config, fetcher)

    def streams(self) -> Sequence[SingerStream]:
        return [self._stream]


def _parse(line: bytes | None, limit: int) -> dict[str, Any] | str:
    """The message on one line, or why it is not one."""
    if line is None:
        return f"longer than {limit} bytes"
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return f"not JSON ({error})"
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "not a Singer message (an object with a 'type')"
    return message


def _preview(line: bytes | None) -> str | None:
    return None if line is None else line[:1000].decode("utf-8", "replace")


async def _split_lines(
    read: Callable[[], Awaitable[bytes]], limit: int
) -> AsyncGenerator[tuple[int, bytes | None], None]:
    """Numbered non-blank lines; None stands for a line over `limit` bytes (dropped whole).

    Our own splitting rather than StreamReader.readline: an over-long line must cost
    one rejected record, not the run or a burst of garbage fragments.
    """
    pending = b""
    too_long = False
    number = 0
    while chunk := await read():
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        for part in parts:
            number += 1
            if too_long or len(part) > limit:
                too_long = False
                yield number, None
            elif part.strip():
                yield number, part
        if len(pending) > limit:
            pending, too_long = b"", True
    if too_long or pending.strip():
        yield number + 1, (None if too_long else pending)


async def _file_lines(
    fetcher: Fetcher, path: str, limit: int
) -> AsyncGenerator[tuple[int, bytes | None], None]:
    async with fetcher.stream(path) as body:
        chunks = body.chunks()

        async def read() -> bytes:
            async for chunk in chunks:
                if chunk:  # an empty chunk is not the end
                    return chunk
            return b""

        async with contextlib.aclosing(_split_lines(read, limit)) as lines:
            async for item in lines:
                yield item


async def _tap_lines(
    command: list[str], config: SingerConfig, singer_state: Any
) -> AsyncGenerator[tuple[int, bytes | None], None]:
    """Run the tap and yield its output lines; kill it if the consumer stops early."""
    state_file = _write_state(singer_state) if singer_state is not None else None
    argv = command if state_file is None else [*command, "--state", state_file]
    env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    env.update({k: v.get_secret_value() for k, v in config.env.items()})
    try:
        try:
            # argv is admin configuration, executed without a shell (ruff's S603 covers
            # the subprocess module only; the same reasoning applies here).
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as error:
            raise FatalError(f"cannot start the tap {argv[0]!r}: {error.strerror}") from None
        async with contextlib.aclosing(_process_lines(process, config)) as lines:
            async for item in lines:
                yield item
    finally:
        if state_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(state_file)


async def _process_lines(
    process: asyncio.subprocess.Process, config: SingerConfig
) -> AsyncGenerator[tuple[int, bytes | None], None]:
    stdout, stderr = process.stdout, process.stderr
    if stdout is None or stderr is None:
        raise RuntimeError("the tap was started without pipes")
    tail = bytearray()
    drain = asyncio.create_task(_keep_tail(stderr, tail))
    timeout = config.idle_timeout_seconds

    async def read() -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await stdout.read(_CHUNK)
        except TimeoutError:
            raise RetriableError(f"the tap printed nothing for {timeout:g} s") from None

    try:
        async with contextlib.aclosing(_split_lines(read, config.max_line_bytes)) as lines:
            async for item in lines:
                yield item
        status = await process.wait()
        # A grandchild may keep stderr open after the tap exits: do not wait for it long.
        await asyncio.wait({drain}, timeout=5)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        drain.cancel()
    if status != 0:
        how = f"was killed by signal {-status}" if status < 0 else f"exited with {status}"
        text = tail.decode("utf-8", "replace").strip() or "(nothing on stderr)"
        raise FatalError(f"the tap {how}; the end of its stderr:\n{text}")


async def _keep_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    # Read stderr all along (a full pipe would block the tap) but keep only its end.
    while chunk := await stream.read(_CHUNK):
        tail += chunk
        del tail[:-_STDERR_TAIL]


def _write_state(value: Any) -> str:
    descriptor, path = tempfile.mkstemp(prefix="singer-state-", suffix=".json")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(orjson.dumps(value))
    return path
