"""How careful a fetcher is (`FetchPolicy`), and reading a source's `Retry-After`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator

MiB = 1024 * 1024


class FetchPolicy(BaseModel):
    """How careful a `SafeFetcher` is; the defaults suit public sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: float = Field(10.0, gt=0, description="seconds to resolve and connect")
    read_timeout: float = Field(30.0, gt=0, description="seconds of silence between reads")
    total_timeout: float = Field(
        120.0, gt=0, description="seconds one attempt may spend waiting on the source"
    )
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base: float = Field(0.5, ge=0, description="first retry waits up to this")
    backoff_cap: float = Field(30.0, ge=0, description="no backoff waits longer")
    retry_after_cap: float = Field(60.0, ge=0, description="a Retry-After is obeyed up to this")
    per_host_concurrency: int = Field(4, ge=1)
    per_host_rate: float | None = Field(
        5.0, gt=0, description="requests/s per host, bursts of per_host_concurrency; None: off"
    )
    max_body_bytes: int = Field(50 * MiB, gt=0, description="cap on a decoded body")
    max_redirects: int = Field(5, ge=0)
    allowed_networks: tuple[IPvAnyNetwork, ...] = Field(
        (), description="private/loopback networks that may be reached anyway"
    )
    allow_file_roots: tuple[Path, ...] = Field(
        (), description="directories file:// URLs and plain paths may read (admin-marked local)"
    )
    user_agent: str = "guildgraph-connector/0.1"

    @field_validator("allow_file_roots")
    @classmethod
    def _roots_are_absolute(cls, roots: tuple[Path, ...]) -> tuple[Path, ...]:
        relative = [str(root) for root in roots if not root.is_absolute()]
        if relative:
            raise ValueError(f"must be absolute paths: {relative}")
        return roots


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` value asks for (delay-seconds or an HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
