"""The sync engine: runs, checkpoints, resume, full-refresh withdrawal, failures."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.storage.collections import COMMUNITIES, LISTINGS, SYNC_RUNS, Database
from service.sync.engine import run_sync
from service.sync.runs import Mode, RunActive, RunStatus
from service.sync.sources import SourceError, SourceSpec, add_source, get_source
from tests.connectors.loopback import Loopback, loopback_server
from tests.service.registries import OGRN_MAPPING, json_registry


@dataclass
class Registry:
    """A paginated JSON registry whose content and failures a test controls."""

    records: list[dict[str, str]] = field(
        default_factory=lambda: [
            {"ogrn": f"10277000{i:05d}", "name": f"Ассоциация номер {i}", "opf": "АНО"}
            for i in range(1, 11)
        ]
    )
    fail_pages: set[int] = field(default_factory=set)
    page_size: int = 3

    def handle(self, request: Request) -> Response:
        page = int(request.query_params.get("page", "1"))
        if page in self.fail_pages:
            return Response("unavailable", status_code=503)
        start = (page - 1) * self.page_size
        return JSONResponse({"items": self.records[start : start + self.page_size]})


@pytest.fixture
async def registry() -> AsyncIterator[tuple[Registry, Loopback]]:
    source = Registry()
    async with loopback_server({"/registry": source.handle}) as server:
        yield source, server


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    policy = FetchPolicy(
        allowed_networks=["127.0.0.1/32"], per_host_rate=None, max_attempts=2, backoff_base=0.001
    )
    async with SafeFetcher(policy) as safe:
        yield safe


async def _register(db: Database, server: Loopback) -> None:
    await add_source(
        db, json_registry("nko-registry", "Реестр НКО", server.url("/registry"), page_size=3)
    )


async def _names(db: Database) -> set[str]:
    return {doc["name"]["ru"] async for doc in db[COMMUNITIES].find({}, {"name": 1})}


async def test_a_run_brings_every_record_in_with_provenance(
    db: Database, registry: tuple[Registry, Loopback], fetcher: SafeFetcher
) -> None:
    source, server = registry
    await _register(db, server)

    run = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)

    assert run["status"] == RunStatus.SUCCEEDED
    assert run["counts"]["fetched"] == 10
    assert run["counts"]["created"] == 10
    assert await _names(db) == {r["name"] for r in source.records}
    doc = await db[COMMUNITIES].find_one({"name.ru": "Ассоциация номер 1"})
    assert doc is not None
    assert [s["source_id"] for s in doc["sources"]] == ["nko-registry"]

    again = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)
    assert again["counts"]["unchanged"] == 10
    assert again["counts"]["created"] == again["counts"]["updated"] == 0


async def test_full_refresh_withdraws_what_the_source_dropped(
    db: Database, registry: tuple[Registry, Loopback], fetcher: SafeFetcher
) -> None:
    source, server = registry
    await _register(db, server)
    await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)
    dropped = source.records.pop(4)

    run = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)

    assert run["counts"]["withdrawn"] == 1
    assert dropped["name"] not in await _names(db)
    assert len(await _names(db)) == 9
    listing = await db[LISTINGS].find_one({"external_id": dropped["ogrn"]})
    assert listing is not None
    assert listing["state"] == "withdrawn"


async def test_a_failed_run_keeps_the_last_good_data_and_withdraws_nothing(
    db: Database, registry: tuple[Registry, Loopback], fetcher: SafeFetcher
) -> None:
    source, server = registry
    await _register(db, server)
    await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)
    before = await _names(db)
    source.records = source.records[:2]
    source.fail_pages = {1}

    run = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)

    assert run["status"] == RunStatus.FAILED
    assert run["counts"]["withdrawn"] == 0
    assert "RetriableError" in run["errors"][0]["message"]
    assert await _names(db) == before


async def test_an_interrupted_run_resumes_from_its_last_checkpoint(
    db: Database, registry: tuple[Registry, Loopback], fetcher: SafeFetcher
) -> None:
    source, server = registry
    await _register(db, server)
    source.fail_pages = {3}

    failed = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)
    assert failed["status"] == RunStatus.FAILED
    assert failed["counts"]["created"] == 6
    stored = (await get_source(db, "nko-registry"))["sync"]["streams"]
    assert next(iter(stored.values()))["state"] == {"page": 3}

    source.fail_pages = set()
    requested_before = len(server.seen["/registry"])
    resumed = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)

    assert resumed["status"] == RunStatus.SUCCEEDED
    pages = [r.query_params.get("page") for r in server.seen["/registry"][requested_before:]]
    assert "1" not in pages
    assert "2" not in pages
    assert resumed["counts"]["created"] == 4
    assert await _names(db) == {r["name"] for r in source.records}
    assert await db[COMMUNITIES].count_documents({}) == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "ftp"}, "kind: unknown connector kind 'ftp'"),
        ({"schedule": "every day"}, "'every day' is not a cron expression"),
        (
            {
                "config": {
                    "url": "https://x.example/r",
                    "mapping": {**OGRN_MAPPING, "fields": {"nme": "n"}},
                }
            },
            "fields.nme: unknown field 'nme'",
        ),
        ({"id": "Bad Id"}, "'Bad Id' is not a source id: use lowercase letters"),
    ],
)
def test_bad_source_specs_name_what_is_wrong(change: dict[str, Any], message: str) -> None:
    given: dict[str, Any] = {
        "id": "ok",
        "name": "ok",
        "family": "association",
        "kind": "json_api",
        "config": {"url": "https://x.example/r", "records_path": "items", "mapping": OGRN_MAPPING},
        **change,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        SourceSpec.model_validate(given)


async def test_a_source_id_is_registered_once(
    db: Database, registry: tuple[Registry, Loopback]
) -> None:
    _, server = registry
    await _register(db, server)
    with pytest.raises(SourceError, match="already exists"):
        await _register(db, server)


async def _held_run(db: Database, owner: str, expires_in: timedelta) -> ObjectId:
    """A running run of the registry as a worker `owner` left it."""
    now = datetime.now(UTC)
    run = {"source_id": "nko-registry", "mode": "full", "trigger": "api", "counts": {},
           "status": "running", "active": True, "created_at": now, "heartbeat_at": now,
           "lease": {"owner": owner, "expires_at": now + expires_in, "fence": 1}}  # fmt: skip
    inserted = await db[SYNC_RUNS].insert_one(run)
    return inserted.inserted_id


async def test_a_live_run_blocks_another_of_the_same_source(
    db: Database, registry: tuple[Registry, Loopback], fetcher: SafeFetcher
) -> None:
    _, server = registry
    await _register(db, server)
    await _held_run(db, f"{socket.gethostname()}:{os.getpid()}:other", timedelta(minutes=1))
    with pytest.raises(RunActive, match="already queued or running"):
        await run_sync(db, "nko-registry", fetcher)
    assert await db[SYNC_RUNS].count_documents({}) == 1


@pytest.mark.parametrize(
    ("owner", "expires_in"),
    [
        # A pid that cannot exist on this host: the process that held it is gone.
        (f"{socket.gethostname()}:{2**22 + 7}:gone", timedelta(minutes=1)),
        # Another host's worker that stopped renewing: its lease ran out.
        ("elsewhere:1234:stalled", timedelta(seconds=-1)),
    ],
    ids=["dead-process", "expired-lease"],
)
async def test_an_abandoned_run_is_taken_over_and_finished(
    db: Database,
    registry: tuple[Registry, Loopback],
    fetcher: SafeFetcher,
    owner: str,
    expires_in: timedelta,
) -> None:
    _, server = registry
    await _register(db, server)
    abandoned = await _held_run(db, owner, expires_in)
    run = await run_sync(db, "nko-registry", fetcher, mode=Mode.FULL)
    assert run["_id"] == abandoned
    assert run["status"] == RunStatus.SUCCEEDED
    assert run["attempts"] == 1
    assert "active" not in run
    assert await db[SYNC_RUNS].count_documents({}) == 1
    assert await db[COMMUNITIES].count_documents({}) == 10


async def test_a_utf8_csv_with_one_damaged_row_is_not_stored_as_mojibake(
    db: Database, fetcher: SafeFetcher
) -> None:
    # One invalid byte in one row of a UTF-8 export once made the whole file cp1251:
    # the run SUCCEEDED and every name was stored as mojibake.
    names = [f"Ассоциация разработчиков № {n} «Ёлка»" for n in range(30)]
    rows = [f"10277000{n:05d};{name};АНО\n".encode() for n, name in enumerate(names)]
    rows[12] = rows[12].replace("«".encode(), b"\xab", 1)  # the cp1251 byte of «
    body = b"ogrn;name;opf\n" + b"".join(rows)
    offset = len(b"ogrn;name;opf\n" + b"".join(rows[:12])) + rows[12].index(b"\xab")

    def handler(request: Request) -> Response:
        return Response(body, media_type="text/csv")

    async with loopback_server({"/reestr.csv": handler}) as server:
        await add_source(
            db,
            SourceSpec(
                id="nko-csv",
                name="Реестр НКО (CSV)",
                family="association",
                kind="csv",
                config={"url": server.url("/reestr.csv"), "mapping": OGRN_MAPPING},
            ),
        )
        run = await run_sync(db, "nko-csv", fetcher, mode=Mode.FULL)

    assert run["status"] == RunStatus.PARTIALLY_SUCCEEDED
    assert (run["counts"]["created"], run["counts"]["rejected"]) == (29, 1)
    assert await _names(db) == set(names) - {names[12]}
    rejected = await db[LISTINGS].find_one({"state": "rejected"})
    assert rejected is not None
    assert f"line 14: byte {offset} is not valid utf-8" in str(rejected)
