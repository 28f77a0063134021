from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError, RetriableError
from connectors.framework.mapping import FieldMapping
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from connectors.singer_tap import SingerConfig, SingerStream, SingerTapConnector
from schema.models import ENTITY_DATA, Listing
from schema.taxonomy import EntityType

FIXTURES = Path(__file__).parent / "fixtures" / "singer"
FAKE_TAP = [sys.executable, str(FIXTURES / "fake_tap.py")]

GROUPS = FieldMapping.model_validate(
    {
        "entity": "community",
        "external_id": "id",
        "url": "link",
        "fields": {
            "name.en": "name",
            "city": "city",
            "website": "link",
            "member_count": "members",
            "kind": {"value": "professional"},
            "form": {"value": "hackathon_group"},
            "countries": {"value": ["RU"]},
        },
    }
)
EVENTS = FieldMapping.model_validate(
    {
        "entity": "event",
        "external_id": "id",
        "fields": {
            "title.ru": "name",
            "starts_at": "time",
            "timezone": {"value": "Europe/Moscow"},
            "format": {"value": "meetup"},
            "attendance_mode": {
                "source": "is_online",
                "values": {"True": "online", "False": "offline"},
            },
            "venue.name": "venue_name",
            "venue.city": "city",
            "organizers": {"source": "group_id", "split": ","},
        },
    }
)


# A tap does its own fetching: the connector takes a fetcher like every other, unused.
NO_FETCHER: Any = None


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[SafeFetcher]:
    """What capture files are read through: the fixtures and tmp_path are allowed roots."""
    policy = FetchPolicy(allow_file_roots=[str(FIXTURES), str(tmp_path)])
    async with SafeFetcher(policy) as fetcher:
        yield fetcher


def tap(*args: str, **overrides: Any) -> SingerStream:
    config = SingerConfig(
        command=[*FAKE_TAP, *args], streams={"groups": GROUPS, "events": EVENTS}, **overrides
    )
    (stream,) = SingerTapConnector("meetup-tap", config, NO_FETCHER).streams()
    return stream


async def collect(stream: SingerStream, state: dict[str, Any] | None = None) -> list[Emitted]:
    return [item async for item in stream.records(state)]


def listings(items: list[Emitted]) -> list[Listing]:
    return [item for item in items if isinstance(item, Listing)]


async def test_records_become_listings_and_states_checkpoints() -> None:
    stream = tap()
    items = await collect(stream)

    found = listings(items)
    assert [(x.entity, x.external_id) for x in found] == [
        (EntityType.COMMUNITY, "g1"),
        (EntityType.EVENT, "e1"),
        (EntityType.COMMUNITY, "g2"),
        (EntityType.EVENT, "e2"),
        (EntityType.COMMUNITY, "g3"),
        (EntityType.EVENT, "e3"),
    ]
    for listing in found:  # the mappings produce payloads ingestion accepts
        ENTITY_DATA[listing.entity].model_validate(listing.payload)
    assert found[0].url == "https://www.meetup.com/moscow-python/"
    assert found[1].payload["organizers"] == ["g1"]
    checkpoints = [item.state for item in items if isinstance(item, Checkpoint)]
    assert checkpoints[0] == {"singer_state": {"position": 2}}
    assert items[-1] == Checkpoint({"singer_state": {"position": 8}})
    assert not [item for item in items if isinstance(item, Rejected)]
    assert stream.stats.ignored == {"members": 2}
    assert stream.stats.message_types["ACTIVATE_VERSION"] == 1
    assert stream.stats.message_types["METRIC"] == 1


async def test_a_checkpoint_covers_the_records_before_it() -> None:
    items = await collect(tap())
    first = next(i for i, item in enumerate(items) if isinstance(item, Checkpoint))
    assert [x.external_id for x in listings(items[:first])] == ["g1", "e1"]


async def test_stored_state_resumes_the_tap_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    everything = [x.external_id for x in listings(await collect(tap()))]

    # First run: the engine stored the second checkpoint, then the worker died.
    stream = tap()
    first_run: list[Emitted] = []
    stored: dict[str, Any] | None = None
    async with contextlib.aclosing(stream.records(None)) as records:
        async for item in records:
            if isinstance(item, Checkpoint):
                stored = item.state
                if item.state["singer_state"]["position"] == 4:
                    break
            else:
                first_run.append(item)
    assert stored == {"singer_state": {"position": 4}}

    second_run = await collect(tap(), stored)
    resumed = [x.external_id for x in listings(first_run)] + [
        x.external_id for x in listings(second_run)
    ]
    assert resumed == everything
    assert listings(second_run)[0].external_id == "e2"
    assert not os.listdir(tmp_path)  # the --state file is removed after the run


async def test_process_is_killed_when_the_consumer_stops_early(tmp_path: Path) -> None:
    pid_file = tmp_path / "tap.pid"
    stream = tap("--forever", str(pid_file))
    taken = 0
    async with contextlib.aclosing(stream.records(None)) as records:
        async for item in records:
            taken += isinstance(item, Listing)
            if taken == 3:
                break
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_nonzero_exit_is_fatal_with_the_stderr_tail() -> None:
    seen: list[Emitted] = []

    async def run() -> None:
        async for item in tap("--fail").records(None):
            seen.append(item)

    with pytest.raises(FatalError, match="exited with 3") as caught:
        await run()
    assert "401 Unauthorized: token expired" in str(caught.value)
    assert [x.external_id for x in listings(seen)] == ["g1", "e1"]  # kept, and no final checkpoint
    assert not any(isinstance(item, Checkpoint) for item in seen)


async def test_a_silent_tap_is_retriable() -> None:
    seen: list[Emitted] = []

    async def run() -> None:
        async for item in tap("--hang", idle_timeout_seconds=1).records(None):
            seen.append(item)

    with pytest.raises(RetriableError, match="printed nothing for 1 s"):
        await run()
    assert [x.external_id for x in listings(seen)] == ["g1"]  # it spoke once, then went silent


async def test_the_tap_sees_only_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILDGRAPH_TEST_SECRET", "mongodb://admin:hunter2@db")
    stream = tap("--echo-env", env={"TAP_TOKEN": "tap-token"})
    (listing,) = listings(await collect(stream))
    assert listing.payload["name"] == {"en": "tap-token"}
    assert listing.payload["city"] == "absent"


async def test_a_missing_command_is_fatal() -> None:
    config = SingerConfig(command=["/nonexistent/tap-nothing"], streams={"groups": GROUPS})
    with pytest.raises(FatalError, match="cannot start the tap"):
        await collect(SingerStream("meetup-tap", config, NO_FETCHER))


async def test_a_capture_file_is_read_with_bad_lines_rejected(files: SafeFetcher) -> None:
    config = SingerConfig(path=str(FIXTURES / "capture.jsonl"), streams={"groups": GROUPS})
    stream = SingerStream("meetup-capture", config, files)
    items = await collect(stream, {"singer_state": {"ignored": "for files"}})

    assert [x.external_id for x in listings(items)] == ["g10", "g12"]
    rejected = [item for item in items if isinstance(item, Rejected)]
    assert [r.reason.split(":")[0] for r in rejected] == ["line 5", "line 6", "line 7"]
    assert "not JSON" in rejected[0].reason
    assert str(rejected[0].raw).startswith('{"type": "RECORD"')
    assert "not a Singer message" in rejected[1].reason
    assert "external id" in rejected[2].reason
    assert stream.stats.ignored == {"audit_log": 1}
    state = {"bookmarks": {"groups": {"replication_key_value": "2025-02-01T00:00:00Z"}}}
    assert items[-1] == Checkpoint({"singer_state": state})


async def test_too_many_malformed_lines_in_a_row_are_fatal(
    tmp_path: Path, files: SafeFetcher
) -> None:
    capture = tmp_path / "broken.jsonl"
    capture.write_text("garbage\n" * 4 + '{"type": "STATE", "value": {}}\n')
    config = SingerConfig(path=str(capture), streams={"groups": GROUPS})
    ok = SingerConfig(path=str(capture), streams={"groups": GROUPS}, max_consecutive_malformed=4)

    strict = config.model_copy(update={"max_consecutive_malformed": 3})
    with pytest.raises(FatalError, match="4 malformed lines in a row"):
        await collect(SingerStream("s", strict, files))
    items = await collect(SingerStream("s", ok, files))
    assert sum(isinstance(item, Rejected) for item in items) == 4


async def test_an_overlong_line_costs_one_rejection(tmp_path: Path, files: SafeFetcher) -> None:
    long_record = '{"type": "RECORD", "stream": "groups", "record": {"id": "x", "name": "%s"}}'
    good = '{"type": "RECORD", "stream": "groups", "record": {"id": "ok", "name": "Fine"}}'
    capture = tmp_path / "long.jsonl"
    capture.write_text(long_record % ("x" * 300_000) + "\n" + good + "\n" + good[:-1])
    config = SingerConfig(path=str(capture), streams={"groups": GROUPS}, max_line_bytes=1024)

    items = await collect(SingerStream("s", config, files))
    assert isinstance(items[0], Rejected)
    assert items[0].reason == "line 1: longer than 1024 bytes"
    assert [x.external_id for x in listings(items)] == ["ok"]
    assert isinstance(items[2], Rejected)  # the last line has no newline and is cut short


async def test_a_missing_file_is_fatal(tmp_path: Path, files: SafeFetcher) -> None:
    config = SingerConfig(path=str(tmp_path / "nope.jsonl"), streams={"groups": GROUPS})
    with pytest.raises(FatalError, match="cannot read"):
        await collect(SingerStream("s", config, files))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"streams": {"groups": GROUPS}}, "exactly one of 'command' or 'path'"),
        ({"command": ["tap"], "path": "x", "streams": {"groups": GROUPS}}, "exactly one"),
        ({"command": [], "streams": {"groups": GROUPS}}, "non-empty argv"),
        ({"command": ["tap"], "streams": {}}, "streams"),
        ({"command": ["tap"], "streams": {"g": {"entity": "nope"}}}, "streams.g.entity"),
    ],
)
def test_bad_configuration_names_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SingerConfig.model_validate(config)
