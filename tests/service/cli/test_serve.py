"""`guildgraph serve` as operators run it: the drain period after SIGTERM, and client
addresses behind (un)trusted proxies. Each test runs a real process on loopback over
the session's database and stops it, also when the test fails."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from service.storage.collections import Database
from tests.service.cli.serving import QUERY, WAIT_S, Serve, serving


# One process, and a supervisor passing the signals on to two: the same behaviour.
@pytest.mark.parametrize("workers", [1, 2])
def test_after_sigterm_readyz_says_draining_and_requests_are_served(
    mongo_uri: str, db: Database, tmp_path: Path, workers: int
) -> None:
    # A drain period far longer than the test: only the second signal ends it.
    env = {"GUILDGRAPH_DRAIN_S": "120", "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": "300"}
    with serving(mongo_uri, db.name, tmp_path, workers=workers, **env) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("draining for")
        if workers > 1:  # every process has been told
            server.wait_for("draining for")
        ready = httpx.get(f"{server.url}/readyz")  # the listener is still open
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        served = httpx.post(f"{server.url}/graphql", json=QUERY)
        assert served.status_code == 200
        assert served.json()["data"]["industries"]
        server.process.send_signal(signal.SIGTERM)  # a second signal: stop now
        # uvicorn re-raises the signal once shut down: the exit status is SIGTERM's.
        assert server.exit_code(timeout=WAIT_S) == -signal.SIGTERM
    assert any("Application shutdown complete" in line for line in server.log)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_drain_period_ends_by_itself_within_the_shutdown_bound(
    mongo_uri: str, db: Database, tmp_path: Path, workers: int
) -> None:
    env = {"GUILDGRAPH_DRAIN_S": "1", "GUILDGRAPH_SHUTDOWN_TIMEOUT_S": "10"}
    with serving(mongo_uri, db.name, tmp_path, workers=workers, **env) as server:
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("draining for 1.0 s")
        assert server.exit_code(timeout=WAIT_S) == -signal.SIGTERM
    log = "".join(server.log)
    assert "drain period over" in log
    assert "Application shutdown complete" in log


def _statuses(server: Serve, addresses: list[str]) -> list[int]:
    return [
        httpx.post(
            f"{server.url}/graphql", json=QUERY, headers={"X-Forwarded-For": address}
        ).status_code
        for address in addresses
    ]


LIMITED = {"GUILDGRAPH_RATE_LIMIT_PER_ADDRESS": "2", "GUILDGRAPH_RATE_LIMIT_WINDOW_S": "3600"}


def test_x_forwarded_for_does_not_escape_the_address_limit_by_default(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    with serving(mongo_uri, db.name, tmp_path, **LIMITED) as server:
        assert _statuses(server, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 429]


def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(
    mongo_uri: str, db: Database, tmp_path: Path
) -> None:
    trusted = {**LIMITED, "GUILDGRAPH_TRUSTED_PROXIES": '["127.0.0.0/8"]'}
    with serving(mongo_uri, db.name, tmp_path, **trusted) as server:
        assert _statuses(server, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 200]
        assert _statuses(server, ["10.0.0.1", "10.0.0.1"]) == [200, 429]
