"""Settings, read once from the environment at the edge and passed down."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ServiceError


class ConfigurationError(ServiceError):
    """The settings cannot work together (e.g. prod without a key secret)."""


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUILDGRAPH_", extra="ignore")

    # Unset means: start the embedded SecantusDB under data_dir.
    mongodb_uri: SecretStr | None = Field(default=None, validation_alias="MONGODB_URI")
    database: str = Field(default="guildgraph", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
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
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    # Sync workers: one runs inside each API process unless turned off.
    worker_enabled: bool = True
    worker_poll_s: float = Field(default=1.0, gt=0, le=60)
    lease_ttl_s: float = Field(default=30.0, ge=1, le=3600)
    shutdown_timeout_s: float = Field(default=20.0, gt=0, le=600)
    subscriptions_per_key: int = Field(default=5, ge=1)

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
