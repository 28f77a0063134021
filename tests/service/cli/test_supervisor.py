"""`guildgraph serve` with GUILDGRAPH_WORKERS=2: one port, two API processes sharing one
read model, under a supervisor. Real processes and real HTTP; which process answered
is read from `X-Served-By` (GUILDGRAPH_SERVED_BY_HEADER, off by default)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schema.principal import Role
from service.auth.keys import create_key
from service.storage.collections import Database
from service.storage.data_lock import alive
from service.storage.setup import ensure_collections
from service.sync.sources import SourceSpec, add_source
from tests.conftest import TEST_KEY_SECRET
from tests.service.cli.serving import (
    QUERY,
    Serve,
    children,
    cmdline,
    kill_all,
    serving,
    wait_gone,
)

WORKERS = 2
SHOWN = {"GUILDGRAPH_SERVED_BY_HEADER": "true"}
# The kernel picks a process for each new connection by a hash of its addresses: the
# chance that this many connections all land on one of two processes is 2^-199.
ATTEMPTS = 200


def _served_by(response: httpx.Response) -> int:
    return int(response.headers["x-served-by"].rsplit(":", 1)[1])


def _until_each_answers(server: Serve, pids: set[int]) -> set[int]:
    """Query on new connections until each of `pids` has answered; the pids that did."""
    answered: set[int] = set()
    for _ in range(ATTEMPTS):
        response = httpx.post(f"{server.url}/graphql", json=QUERY)  # a new connection
        assert response.status_code == 200, response.text
        answered.add(_served_by(response))
        if pids <= answered:
            return answered
    raise AssertionError(f"{sorted(answered)} answered, not {sorted(pids)}")


@pytest.fixture
def two(mongo_uri: str, db: Database, tmp_path: Path) -> Iterator[Serve]:
    with serving(mongo_uri, db.name, tmp_path, workers=WORKERS, **SHOWN) as server:
        yield server


def test_requests_are_answered_by_every_api_process(two: Serve) -> None:
    processes = set(two.api_processes())
    assert len(processes) == WORKERS
    assert _until_each_answers(two, processes) == processes  # and by nothing else


UPSERT = """
mutation Push($input: UpsertListingsInput!) {
  upsertListings(input: $input) { results { outcome entityId } }
}
"""
READ = "query($id: ID!) { node(id: $id) { ... on Community { name(lang: RU) } } }"


async def test_a_write_through_one_process_is_read_through_the_other(
    two: Serve, db: Database
) -> None:
    key = await _partner(db)
    assert await _written_then_read_elsewhere(two, key, "Гильдия") == {
        "data": {"node": {"name": "Гильдия"}}
    }


async def test_a_host_restarted_after_its_database_was_dropped_shows_the_next_write(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    """The bench's second instance: its read model resumes from before the database was
    dropped and filled again (the bench regenerated its dataset). MongoDB ends a change
    stream at such a drop; the host used to follow the ended stream, say it was ready,
    and show no write again (each one waited out the read-your-writes bound, and the
    entity stayed missing), also after the next restart."""
    with serving(mongo_uri, db.name, tmp_path, workers=WORKERS, **SHOWN):
        pass  # its read model has its resume token
    await db.client.drop_database(db.name)
    await ensure_collections(db)
    key = await _partner(db)
    with serving(mongo_uri, db.name, tmp_path, workers=WORKERS, **SHOWN) as again:
        assert await _written_then_read_elsewhere(again, key, "Проба") == {
            "data": {"node": {"name": "Проба"}}
        }


async def _partner(db: Database) -> str:
    spec = SourceSpec(id="acme-partner", name="ACME", family="partner", kind="push", config={})
    await add_source(db, spec)
    key = await create_key(db, TEST_KEY_SECRET.encode(), Role.PARTNER, "acme-partner")
    return key.key


async def _written_then_read_elsewhere(server: Serve, key: str, name: str) -> object:
    """A partner creates community `name` through one process; the other process's first
    answer for it, at once."""
    community = {"name": {"ru": name}, "kind": "PROFESSIONAL", "form": "ASSOCIATION"}
    listings = [{"externalId": "g-1", "community": community}]
    # No keep-alive: each request on a new connection, for the kernel to place.
    async with httpx.AsyncClient(
        base_url=server.url, limits=httpx.Limits(max_keepalive_connections=0)
    ) as http:
        written = await http.post(
            "/graphql",
            json={"query": UPSERT, "variables": {"input": {"listings": listings}}},
            headers={"Authorization": f"Bearer {key}"},
        )
        (result,) = written.json()["data"]["upsertListings"]["results"]
        assert result["outcome"] == "CREATED", result
        writer = _served_by(written)

        # The write returned once the host's read model showed it, so the other process,
        # reading the same file, finds it at once: no retry, its first answer counts.
        read = {"query": READ, "variables": {"id": result["entityId"]}}
        for _ in range(ATTEMPTS):
            answer = await http.post("/graphql", json=read)
            if _served_by(answer) != writer:
                break
    assert _served_by(answer) != writer
    return answer.json()


def test_a_killed_api_process_is_started_again_and_the_other_keeps_answering(
    two: Serve,
) -> None:
    victim, survivor = two.api_processes()
    os.kill(victim, signal.SIGKILL)
    assert wait_gone([victim]) == []
    # Its socket went with it: new connections reach the survivor meanwhile.
    assert all(httpx.post(f"{two.url}/graphql", json=QUERY).status_code == 200 for _ in range(20))
    two.wait_for("restarted as pid")
    assert f"pid {victim}) exited with code -9" in "".join(two.log)
    (restarted,) = set(two.api_processes()) - {survivor}
    assert restarted != victim
    assert two.process.poll() is None  # the supervisor carried on
    _until_each_answers(two, {survivor, restarted})


# --- the whole tree, over the embedded database the supervisor starts -------------------

BOUND_S = 10
EMBEDDED = {"GUILDGRAPH_DRAIN_S": "1", "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": str(BOUND_S)}


def _tree(server: Serve) -> tuple[list[int], list[int]]:
    """The supervisor's API processes and its database server."""
    below = children(server.process.pid)
    api = [pid for pid in below if "service.cli.main" in cmdline(pid)]
    database = [pid for pid in below if "secantus" in cmdline(pid)]
    return api, database


def test_sigterm_stops_every_process_within_the_shutdown_bound(tmp_path: Path) -> None:
    env = {**EMBEDDED, "GUILDGRAPH_WORKER_ENABLED": "true"}
    with serving(None, "supervised", tmp_path, workers=WORKERS, **env) as server:
        api, database = _tree(server)
        try:
            assert len(api) == WORKERS
            assert len(database) == 1  # started once, by the supervisor
            assert all(children(pid) == [] for pid in api)  # the processes use it
            server.process.send_signal(signal.SIGTERM)
            assert server.exit_code(timeout=BOUND_S) == -signal.SIGTERM
            # Waited for, every one of them, before the supervisor exited.
            assert [pid for pid in api + database if alive(pid)] == []
        finally:
            kill_all(api + database)
    log = "".join(server.log)
    assert log.count("Application shutdown complete") == WORKERS
    # One sync worker on the host, in process 0.
    (worker,) = re.findall(r"guildgraph\.worker worker \S+:(\d+):\S+ started", log)
    assert f"(API process 0, pid {worker})" in log
    assert not (tmp_path / "data" / "db.owner.json").exists()  # the data directory is free


def test_sigkill_of_the_supervisor_leaves_no_process_behind(tmp_path: Path) -> None:
    with serving(None, "supervised", tmp_path, workers=WORKERS, **EMBEDDED) as server:
        api, database = _tree(server)
        try:
            assert len(api) == WORKERS
            assert len(database) == 1
            server.process.kill()
            server.process.wait()
            # The kernel tells each of them (PR_SET_PDEATHSIG); each stops on its own.
            assert wait_gone(api + database) == []
        finally:
            kill_all(api + database)
