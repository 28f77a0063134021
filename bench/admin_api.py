"""What the benchmark does as an admin: through the service's own admin port.

The admin key comes from `AdminService` in this process (as `guildgraph keys create`
makes one); everything else goes through the GraphQL admin API of a running server,
as an operator would: partner sources and keys, the registry source, sync runs, and
the clean-up that deletes the bench's sources with their listings afterwards, so the
bench dataset is the same for the next run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from schema.admin.reports import SourceDeleted
from schema.enums import ApiKeyRole
from schema.principal import Principal, Role
from service.admin.service import AdminService
from service.settings import Environment, Settings
from service.storage.collections import Database
from service.sync.worker import WorkerHandle

UNCACHED = {"Cache-Control": "no-cache"}
# A source deletion withdraws every listing of the source first: minutes at 20,000.
ADMIN_TIMEOUT_S = 900.0
BENCH_ADMIN = Principal(Role.ADMIN, key_id="bench", client="bench")


class AdminApiError(RuntimeError):
    """An admin or partner call that did not do what the bench needs."""


class Caller:
    """GraphQL over HTTP with one API key (or none)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=UNCACHED
        )
        if response.status_code != 200:
            raise AdminApiError(f"HTTP {response.status_code}: {response.text[:500]}")
        body = orjson.loads(response.content)
        if body.get("errors"):
            raise AdminApiError(f"errors: {orjson.dumps(body['errors']).decode()[:500]}")
        data: dict[str, Any] = body["data"]
        return data


@asynccontextmanager
async def caller(
    url: str, key: str | None, timeout_s: float = ADMIN_TIMEOUT_S
) -> AsyncIterator[Caller]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout_s) as client:
        yield Caller(client)


def _operator(db: Database, key_secret: str) -> AdminService:
    settings = Settings(key_secret=SecretStr(key_secret), env=Environment.PROD)
    return AdminService(db, BENCH_ADMIN, settings, WorkerHandle())


async def create_admin_key(db: Database, key_secret: str) -> tuple[str, str]:
    """A new admin key (the key, its id), made by the service's AdminService."""
    created = await _operator(db, key_secret).create_api_key(ApiKeyRole.ADMIN, None, "make bench")
    if not isinstance(created, tuple):
        raise AdminApiError(f"no admin key: {created.message}")
    key, record = created
    return key, record["_id"]


async def revoke_key(db: Database, key_secret: str, key_id: str) -> None:
    await _operator(db, key_secret).revoke_api_key(key_id)


async def remove_leftovers(db: Database, key_secret: str, source_ids: list[str]) -> bool:
    """Delete the bench's own sources a killed run left behind, with their listings and
    the entities only they supported. False when one cannot be deleted (a run of it is
    still active): then only a rebuilt dataset is the bench dataset again."""
    admin = _operator(db, key_secret)
    clean = True
    for source_id in source_ids:
        if await admin.source(source_id) is None:
            continue
        print(f"dataset: removing the leftover source {source_id}", flush=True)
        last = await admin.last_run(source_id)
        if last is not None and last.get("active"):
            await admin.cancel_sync(str(last["_id"]))  # a queued run ends at once
        result = await admin.delete_source(source_id, withdraw_listings=True)
        if not isinstance(result, SourceDeleted):
            print(f"dataset: cannot remove {source_id}: {result.message}", flush=True)
            clean = False
    return clean


# --- through the admin API ---------------------------------------------------------------

CREATE_SOURCE = """
mutation($input: SourceInput!) {
  createSource(input: $input) { __typename ... on AdminProblem { message } }
}"""
CREATE_KEY = """
mutation($source: String!) {
  createApiKey(role: PARTNER, sourceId: $source, label: "make bench") {
    __typename ... on NewApiKey { key } ... on AdminProblem { message }
  }
}"""
TRIGGER = """
mutation($source: String!) {
  triggerSync(sourceId: $source, mode: FULL) {
    __typename ... on SyncRun { id } ... on AdminProblem { message }
  }
}"""
RUN = """
query($id: ID!) {
  syncRun(id: $id) {
    status active worker counts { fetched created updated rejected } errors { where message }
  }
}"""
CANCEL = """
mutation($id: ID!) {
  cancelSync(runId: $id) { __typename ... on AdminProblem { message } }
}"""
DELETE = """
mutation($id: ID!) {
  deleteSource(id: $id, withdrawListings: true) {
    __typename
    ... on SourceDeleted { withdrawnListings deletedListings }
    ... on AdminProblem { message }
  }
}"""


def _expect(result: dict[str, Any], typename: str, doing: str) -> dict[str, Any]:
    if result["__typename"] != typename:
        raise AdminApiError(f"{doing}: {result['__typename']}: {result.get('message')}")
    return result


async def create_source(admin: Caller, spec: dict[str, Any]) -> None:
    result = (await admin.data(CREATE_SOURCE, {"input": spec}))["createSource"]
    _expect(result, "Source", f"createSource {spec['id']}")


async def create_partner(admin: Caller, source_id: str) -> str:
    """A partner source and a key for it; the key."""
    spec = {"id": source_id, "name": "Bench partner", "family": "PARTNER", "kind": "push"}
    await create_source(admin, spec)
    result = (await admin.data(CREATE_KEY, {"source": source_id}))["createApiKey"]
    key: str = _expect(result, "NewApiKey", f"createApiKey for {source_id}")["key"]
    return key


async def trigger_full_sync(admin: Caller, source_id: str) -> str:
    result = (await admin.data(TRIGGER, {"source": source_id}))["triggerSync"]
    run_id: str = _expect(result, "SyncRun", f"triggerSync {source_id}")["id"]
    return run_id


async def sync_run(admin: Caller, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] | None = (await admin.data(RUN, {"id": run_id}))["syncRun"]
    if run is None:
        raise AdminApiError(f"no run {run_id}")
    return run


async def stop_run(admin: Caller, run_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
    """Cancel a run (a running one stops at its next checkpoint) and wait until it ended."""
    result = (await admin.data(CANCEL, {"id": run_id}))["cancelSync"]
    _expect(result, "SyncRun", f"cancelSync {run_id}")
    deadline = time.monotonic() + timeout_s
    while True:
        run = await sync_run(admin, run_id)
        if not run["active"]:
            return run
        if time.monotonic() > deadline:
            raise AdminApiError(f"run {run_id} still active {timeout_s:.0f}s after cancelSync")
        await asyncio.sleep(0.5)


async def delete_source(admin: Caller, source_id: str) -> dict[str, Any]:
    """Delete a source with its listings (withdrawn first) and its partner keys."""
    result = (await admin.data(DELETE, {"id": source_id}))["deleteSource"]
    return _expect(result, "SourceDeleted", f"deleteSource {source_id}")
