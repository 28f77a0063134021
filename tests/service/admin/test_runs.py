"""Admin API over HTTP: triggering and cancelling syncs, and the run history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from service.storage.collections import SYNC_RUNS, Database
from service.sync.runs import Mode, enqueue_run
from tests.conftest import GraphQLClient
from tests.service.admin.test_sources import Caller, admin_caller, register

RUN = """
id sourceId mode trigger status active cancelRequested attempts worker
createdAt scheduledFor startedAt finishedAt heartbeatAt durationS
counts { fetched created updated unchanged rejected withdrawn }
progress { pages records bytes recordsPerS estimatedTotal estimatedRemaining estimatedRemainingS }
errors { where message }
"""
TRIGGER = f"""
mutation($source: String!, $mode: SyncMode!) {{
  triggerSync(sourceId: $source, mode: $mode) {{
    __typename
    ... on SyncRun {{ {RUN} }}
    ... on SyncRunActive {{ message activeRun {{ id status }} }}
    ... on SourceNotFound {{ message sourceId }}
    ... on SourceNotSyncable {{ message sourceId }}
  }}
}}
"""
CANCEL = """
mutation($id: ID!) {
  cancelSync(runId: $id) {
    __typename
    ... on SyncRun { id status active finishedAt cancelRequested }
    ... on SyncRunNotFound { message runId }
  }
}
"""
HISTORY = """
query($filter: SyncRunFilter, $first: Int, $after: String) {
  syncRuns(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id sourceId status createdAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
    totalCount
  }
}
"""
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def admin(fresh_api: GraphQLClient, db: Database) -> Caller:
    return await admin_caller(fresh_api, db)


async def test_trigger_returns_the_queued_run_and_a_second_trigger_names_it(
    admin: Caller, db: Database
) -> None:
    await register(db, "nko")
    first = (await admin.data(TRIGGER, {"source": "nko", "mode": "FULL"}))["triggerSync"]
    assert first["__typename"] == "SyncRun"
    assert (first["status"], first["mode"], first["trigger"]) == ("QUEUED", "FULL", "API")
    assert first["active"] is True
    assert first["startedAt"] is None
    assert first["durationS"] is None
    assert first["counts"]["fetched"] == 0
    stored = await db[SYNC_RUNS].find_one({"_id": ObjectId(first["id"])})
    assert stored is not None
    assert stored["status"] == "queued"

    second = (await admin.data(TRIGGER, {"source": "nko", "mode": "INCREMENTAL"}))["triggerSync"]
    assert second["__typename"] == "SyncRunActive"
    assert second["activeRun"] == {"id": first["id"], "status": "QUEUED"}
    assert first["id"] in second["message"]
    assert await db[SYNC_RUNS].count_documents({}) == 1

    source = await admin.data('{ source(id: "nko") { lastRun { id status } } }')
    assert source["source"]["lastRun"] == {"id": first["id"], "status": "QUEUED"}


async def test_trigger_refuses_unknown_partner_and_disabled_sources(
    admin: Caller, db: Database
) -> None:
    await register(db, "partner-a", family="partner", kind="push", config={})
    await register(db, "off", enabled=False)
    expected = {
        "nope": "SourceNotFound",
        "partner-a": "SourceNotSyncable",
        "off": "SourceNotSyncable",
    }
    for source_id, typename in expected.items():
        result = (await admin.data(TRIGGER, {"source": source_id, "mode": "FULL"}))["triggerSync"]
        assert result["__typename"] == typename, result
        assert result["sourceId"] == source_id
        assert source_id in result["message"]
    assert await db[SYNC_RUNS].count_documents({}) == 0


async def test_cancel_a_queued_run_frees_the_source(admin: Caller, db: Database) -> None:
    await register(db, "nko")
    run = await enqueue_run(db, "nko", Mode.INCREMENTAL, "schedule")
    cancelled = (await admin.data(CANCEL, {"id": str(run["_id"])}))["cancelSync"]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["active"] is False
    assert cancelled["finishedAt"] is not None
    again = (await admin.data(CANCEL, {"id": str(run["_id"])}))["cancelSync"]
    assert again["status"] == "CANCELLED"  # an ended run comes back unchanged
    retried = (await admin.data(TRIGGER, {"source": "nko", "mode": "FULL"}))["triggerSync"]
    assert retried["__typename"] == "SyncRun"
    assert retried["id"] != str(run["_id"])


async def test_cancel_a_running_run_asks_it_to_stop(admin: Caller, db: Database) -> None:
    await register(db, "nko")
    run = await enqueue_run(db, "nko", Mode.INCREMENTAL, "api")
    await db[SYNC_RUNS].update_one({"_id": run["_id"]}, {"$set": {"status": "running"}})
    result = (await admin.data(CANCEL, {"id": str(run["_id"])}))["cancelSync"]
    assert (result["status"], result["cancelRequested"], result["active"]) == (
        "RUNNING",
        True,
        True,
    )


async def test_cancel_unknown_and_malformed_runs(admin: Caller) -> None:
    missing = str(ObjectId())
    result = (await admin.data(CANCEL, {"id": missing}))["cancelSync"]
    assert result == {
        "__typename": "SyncRunNotFound",
        "message": f"no run {missing!r}",
        "runId": missing,
    }
    body = await admin.query(CANCEL, {"id": "not-a-run"})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "runId"}


def _run(source_id: str, status: str, created_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "source_id": source_id,
        "mode": "incremental",
        "trigger": "schedule",
        "status": status,
        "created_at": created_at,
        "counts": {"fetched": 0},
        **extra,
    }


async def _all_pages(admin: Caller, size: int, filter: dict[str, Any] | None) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(50):
        page = await admin.data(HISTORY, {"filter": filter, "first": size, "after": after})
        connection = page["syncRuns"]
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen.extend(edge["node"]["id"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return seen
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def test_sync_runs_newest_first_with_filters_and_cursor_paging(
    admin: Caller, db: Database
) -> None:
    runs = [
        _run("a", "succeeded", T0),
        _run("b", "failed", T0 + timedelta(minutes=1)),
        # Three runs created in the same millisecond: the id breaks the tie.
        _run("a", "failed", T0 + timedelta(minutes=2)),
        _run("b", "succeeded", T0 + timedelta(minutes=2)),
        _run("c", "succeeded", T0 + timedelta(minutes=2)),
        _run("a", "cancelled", T0 + timedelta(minutes=3)),
        _run("c", "queued", T0 + timedelta(minutes=4), active=True),
    ]
    await db[SYNC_RUNS].insert_many(runs)
    newest_first = [
        str(r["_id"]) for r in sorted(runs, key=lambda r: (r["created_at"], r["_id"]), reverse=True)
    ]

    for size in (1, 2, 3, 7, 10):
        assert await _all_pages(admin, size, None) == newest_first

    def expect(keep: Any) -> list[str]:
        return [i for i in newest_first if keep(next(r for r in runs if str(r["_id"]) == i))]

    by_source = {"sources": ["a", "c"]}
    assert await _all_pages(admin, 2, by_source) == expect(lambda r: r["source_id"] in "ac")
    by_status = {"statuses": ["FAILED", "CANCELLED"]}
    assert await _all_pages(admin, 2, by_status) == expect(
        lambda r: r["status"] in ("failed", "cancelled")
    )
    window = {
        "from": (T0 + timedelta(minutes=1)).isoformat(),
        "to": (T0 + timedelta(minutes=3)).isoformat(),
    }
    in_window = expect(
        lambda r: T0 + timedelta(minutes=1) <= r["created_at"] < T0 + timedelta(minutes=3)
    )
    assert await _all_pages(admin, 2, window) == in_window
    combined = {"sources": ["a"], "statuses": ["FAILED"], **window}
    assert await _all_pages(admin, 2, combined) == [str(runs[2]["_id"])]

    counted = await admin.data(HISTORY, {"filter": by_source, "first": 1})
    assert counted["syncRuns"]["totalCount"] == 5

    body = await admin.query(HISTORY, {"after": "bm90LWEtY3Vyc29y"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_sync_run_shows_counts_progress_timings_and_errors(
    admin: Caller, db: Database
) -> None:
    finished = _run(
        "a",
        "partially_succeeded",
        T0,
        started_at=T0 + timedelta(seconds=5),
        finished_at=T0 + timedelta(seconds=95),
        attempts=2,
        counts={"fetched": 120, "created": 100, "updated": 5, "unchanged": 10, "rejected": 5},
        progress={
            "pages": 4,
            "bytes": 5_000_000_000,
            "records_per_s": 1.5,
            "estimated_total": None,
        },
        errors=[{"where": "ogrn-1", "message": "name: Field required"}],
    )
    running = _run(
        "b",
        "running",
        T0,
        active=True,
        started_at=datetime.now(UTC) - timedelta(seconds=30),
        lease={"owner": "host:1:abc", "expires_at": datetime.now(UTC), "fence": 3},
        counts={"fetched": 40},
        progress={"pages": 2, "bytes": 1000, "records_per_s": 4.0, "estimated_total": 100},
    )
    await db[SYNC_RUNS].insert_many([finished, running])

    query = f"query($id: ID!) {{ syncRun(id: $id) {{ {RUN} }} }}"
    done = (await admin.data(query, {"id": str(finished["_id"])}))["syncRun"]
    assert done["status"] == "PARTIALLY_SUCCEEDED"
    assert done["attempts"] == 2
    assert done["durationS"] == 90.0
    assert done["counts"] == {
        "fetched": 120,
        "created": 100,
        "updated": 5,
        "unchanged": 10,
        "rejected": 5,
        "withdrawn": 0,
    }
    assert done["progress"] == {
        "pages": 4,
        "records": 120,
        "bytes": 5e9,
        "recordsPerS": 1.5,
        "estimatedTotal": None,
        "estimatedRemaining": None,
        "estimatedRemainingS": None,
    }
    assert done["errors"] == [{"where": "ogrn-1", "message": "name: Field required"}]
    assert done["worker"] is None

    live = (await admin.data(query, {"id": str(running["_id"])}))["syncRun"]
    assert live["worker"] == "host:1:abc"
    assert live["progress"]["estimatedRemaining"] == 60
    assert live["progress"]["estimatedRemainingS"] == 15.0
    assert live["durationS"] >= 30
    assert live["finishedAt"] is None

    assert (await admin.data(query, {"id": str(ObjectId())}))["syncRun"] is None
    body = await admin.query(query, {"id": "nope"})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}


async def test_sources_show_their_newest_run(admin: Caller, db: Database) -> None:
    await register(db, "a")
    await register(db, "b")
    old, new = _run("a", "failed", T0), _run("a", "succeeded", T0 + timedelta(hours=1))
    await db[SYNC_RUNS].insert_many([old, new])
    sources = (await admin.data("{ sources { id lastRun { id status } } }"))["sources"]
    assert sources == [
        {"id": "a", "lastRun": {"id": str(new["_id"]), "status": "SUCCEEDED"}},
        {"id": "b", "lastRun": None},
    ]
