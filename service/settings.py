"""Settings, read once from the environment at the edge and passed down."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ServiceError


class ConfigurationError(ServiceError):
    """The settings cannot work together (e.g. prod without a key secret)."""


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ReadConsistency(StrEnum):
    """What a read sees of writes (service.read_model.barrier).

    session: a write returns once this host's read model shows it, so a client
    reads its own writes through the same host; other writes show within the
    replication lag. strong: every request first waits until the read model shows
    every write committed before it (one small database write per request).
    """

    SESSION = "session"
    STRONG = "strong"


def available_cores() -> int:
    """The cores this process may use: the CPUs it may run on, fewer under a cgroup v2
    CPU quota (a container's `--cpus`, a pod's CPU limit), at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    return max(1, cores)


ENV_PREFIX = "GUILDGRAPH_"


def setting_name(field: str) -> str:
    """The environment variable a `Settings` field is read from."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Unset means: start the embedded SecantusDB under data_dir.
    mongodb_uri: SecretStr | None = Field(default=None, validation_alias="MONGODB_URI")
    database: str = Field(default="guildgraph", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # API processes on this host, each listening on host:port (SO_REUSEPORT) and reading
    # the host's one read model; more than one: `guildgraph serve` supervises them.
    workers: int = Field(default_factory=available_cores, ge=1, le=256)
    # Every HTTP response names the process that answered (`X-Served-By: host:pid`):
    # for tests and for looking at the balance, not for production.
    served_by_header: bool = False
    data_dir: Path = Path("./data")
    env: Environment = Environment.DEV
    # In prod GraphiQL and introspection are off unless turned on explicitly.
    introspection: bool | None = None
    graphiql: bool | None = None

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_query_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=50)
    embedded_start_timeout_s: float = Field(default=30.0, gt=0)
    # The loopback port of the embedded database (unset: a free one, new at each start),
    # for connecting a MongoDB tool to it.
    embedded_port: int | None = Field(default=None, ge=1, le=65535)
    # How long a request waits for the database before it is answered 503 (also the
    # driver's server selection timeout).
    db_timeout_s: float = Field(default=2.0, gt=0, le=60)
    # Query cost budgets per caller role (README "Query cost").
    cost_limit_anonymous: int = Field(default=5000, ge=1)
    cost_limit_partner: int = Field(default=20000, ge=1)
    cost_limit_admin: int = Field(default=50000, ge=1)
    # Proxies whose X-Forwarded-For names the client (JSON list of addresses or CIDRs);
    # from anyone else the header is ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Outbound fetches refuse private and loopback addresses unless listed here
    # (JSON list of CIDRs), and local files outside these directories.
    fetch_allowed_networks: list[str] = Field(default_factory=list)
    fetch_file_roots: list[Path] = Field(default_factory=list)

    # API keys are stored as HMAC-SHA256 under this secret. Unset in dev: one is
    # generated once under data_dir; in prod it must be set (every instance the same).
    key_secret: SecretStr | None = None
    # Requests per window per API key and per client address (0: no limit); the
    # counters live in MongoDB, so every instance shares them.
    rate_limit_window_s: int = Field(default=60, ge=1, le=3600)
    rate_limit_per_key: int = Field(default=1200, ge=0)
    rate_limit_per_address: int = Field(default=600, ge=0)
    # Each process counts locally and shares its counts every flush_s, or once a key or
    # address has flush_requests unshared (README "Rate limits"); 0: every request is
    # counted in MongoDB before it is answered.
    rate_limit_flush_s: float = Field(default=1.0, ge=0, le=60)
    rate_limit_flush_requests: int = Field(default=100, ge=1)
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    # Sync workers: one runs inside each API process unless turned off.
    worker_enabled: bool = True
    worker_poll_s: float = Field(default=1.0, gt=0, le=60)
    lease_ttl_s: float = Field(default=30.0, ge=1, le=3600)
    shutdown_timeout_s: float = Field(default=20.0, gt=0, le=600)
    # After SIGTERM: keep serving (with /readyz 503) this long before closing the
    # listener, so load balancers stop sending first; at most half the shutdown bound.
    drain_s: float = Field(default=5.0, ge=0, le=600)
    subscriptions_per_key: int = Field(default=5, ge=1)

    # The read model (a SQLite file per database under data_dir/read_model): how
    # long a write waits for it to show the write, and what reads see.
    read_your_writes_timeout_s: float = Field(default=2.0, gt=0, le=60)
    read_consistency: ReadConsistency = ReadConsistency.SESSION
    # Public reads executing at once per API process (service.api.read_gate): the rest
    # wait their turn, so writes and the read model's applier are not held behind them.
    public_read_concurrency: int = Field(default=2, ge=1, le=1024)

    # Anonymous query answers (README "Caching"): kept in memory up to cache_bytes per
    # process (0: no response cache), served at most cache_max_stale_s after a change
    # that affects them was applied, and at most cache_ttl_s after they were made. HTTP
    # caches get max-age (the default where the schema hints nothing lower) and
    # stale-while-revalidate.
    cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    cache_max_stale_s: float = Field(default=2.0, ge=0, le=60)
    cache_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    cache_max_age_s: int = Field(default=5, ge=0, le=86400)
    cache_stale_while_revalidate_s: int = Field(default=5, ge=0, le=86400)
    # Trusted documents: a JSON manifest of SHA-256 -> document, loaded and validated at
    # start; with persisted_only, only those documents are run.
    persisted_queries: Path | None = None
    persisted_only: bool = False
    # For `make bench` only: serve this file's bytes at /bench/static (a plain Starlette
    # endpoint the cached GraphQL answers are compared with). Unset in production.
    bench_static_file: Path | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value

    @property
    def drain_period_s(self) -> float:
        """The drain period after SIGTERM, within the shutdown bound."""
        return min(self.drain_s, self.shutdown_timeout_s / 2)

    @property
    def introspection_enabled(self) -> bool:
        if self.introspection is not None:
            return self.introspection
        return self.env is Environment.DEV

    @property
    def graphiql_enabled(self) -> bool:
        if self.graphiql is not None:
            return self.graphiql
        return self.env is Environment.DEV
