"""Static checks of docker-compose.yml and the Dockerfile.

No Docker daemon is needed: these catch a broken deployment layout in plain CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def _service(name: str) -> dict[str, Any]:
    services = _compose().get("services") or {}
    assert name in services, f"service {name!r} missing"
    service = services[name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Compose accepts both ["KEY=value", ...] and {KEY: value}; normalise to a dict."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _healthcheck_text(service: dict[str, Any]) -> str:
    """The healthcheck test may be a string or a ["CMD", ...] list; search it as one string."""
    test = (service.get("healthcheck") or {}).get("test", "")
    return " ".join(test) if isinstance(test, list) else str(test)


def _command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _dockerfile_lines() -> list[str]:
    return [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]


def test_both_services_exist() -> None:
    services = _compose().get("services") or {}
    assert {"mongo", "api"} <= set(services)


def test_mongo_uses_mongo_8_image() -> None:
    assert str(_service("mongo").get("image", "")).startswith("mongo:8")


def test_mongo_runs_as_replica_set() -> None:
    assert "--replSet" in _command_text(_service("mongo"))


def test_mongo_healthcheck_initiates_replica_set() -> None:
    assert "rs.initiate" in _healthcheck_text(_service("mongo"))


def test_mongo_data_lives_in_declared_named_volume() -> None:
    declared = set((_compose().get("volumes") or {}).keys())
    assert declared, "no top-level named volume declared"
    mounts = [str(v) for v in _service("mongo").get("volumes") or []]
    named_at_db = [m.split(":", 1)[0] for m in mounts if m.split(":")[1:2] == ["/data/db"]]
    assert named_at_db, "nothing mounted at /data/db"
    assert set(named_at_db) <= declared, "volume at /data/db is not a declared named volume"


def test_api_is_built_from_repo() -> None:
    assert _service("api").get("build")


def test_api_points_at_mongo_replica_set() -> None:
    uri = _environment(_service("api")).get("MONGODB_URI", "")
    assert "replicaSet=" in uri
    assert uri.startswith("mongodb://mongo:") or uri.startswith("mongodb://mongo/")


def test_api_waits_for_healthy_mongo() -> None:
    depends_on = _service("api").get("depends_on")
    assert isinstance(depends_on, dict), "use the long depends_on form to set a condition"
    assert depends_on.get("mongo", {}).get("condition") == "service_healthy"


def test_api_has_healthcheck() -> None:
    assert "/readyz" in _healthcheck_text(_service("api"))


def test_dockerfile_has_healthcheck() -> None:
    assert any(line.startswith("HEALTHCHECK ") for line in _dockerfile_lines())


def test_dockerfile_cmd_runs_guildgraph_serve() -> None:
    cmds = [
        line.removeprefix("CMD").strip() for line in _dockerfile_lines() if line.startswith("CMD ")
    ]
    assert cmds, "Dockerfile has no CMD"
    last = cmds[-1]  # only the last CMD takes effect
    argv = json.loads(last) if last.startswith("[") else last.split()
    assert argv[:2] == ["guildgraph", "serve"]


def test_a_worker_service_runs_syncs_beside_an_api_without_one() -> None:
    worker, api = _service("worker"), _service("api")
    assert _command_text(worker) == "guildgraph worker"
    assert worker.get("build")
    assert _environment(worker)["MONGODB_URI"] == _environment(api)["MONGODB_URI"]
    assert _environment(api)["GUILDGRAPH_WORKER_ENABLED"] == "false"


def test_prod_services_share_a_required_key_secret() -> None:
    # In prod the service refuses to start without it; every instance needs the same.
    for name in ("api", "worker"):
        secret = _environment(_service(name))["GUILDGRAPH_KEY_SECRET"]
        assert secret.startswith("${GUILDGRAPH_KEY_SECRET:?"), secret
