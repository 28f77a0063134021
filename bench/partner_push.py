"""A partner pushing listings while readers load the same instance:

    bench partner_push_under_load: listings_per_s=.. batch_p99_ms=.. read_rps=..

One partner (its own key, made through the admin API) sends `upsertListings` batches
of `batch_size` listings one after the other, each batch a quarter new communities and
three quarters new events they organize, while `readers` clients send the showcase
(`Cache-Control: no-cache`, so each one executes). A batch returns once the instance's
read model shows it (read-your-writes), so its latency is what a partner waits.
listings_per_s counts the listings of the batches that finished within the phase.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from load import (
    Outcome,
    graphql_problem,
    percentile_ms,
    report_failures,
    run_load,
    showcase_scenario,
)
from load_client import LoadClient

from schema.taxonomy import INDUSTRIES, AttendanceMode, CommunityKind, EventFormat, OrganizationForm

UPSERT = """
mutation Push($input: UpsertListingsInput!) {
  upsertListings(input: $input) {
    created updated unchanged rejected
    results { outcome errors { path message } }
  }
}"""
BATCH_TIMEOUT_S = 120.0
_INDUSTRIES = list(INDUSTRIES)


def partner_community(external_id: str, n: int, **extra: Any) -> dict[str, Any]:
    """A community listing of the partner; its own website, so no other entity matches."""
    industry = _INDUSTRIES[n % len(_INDUSTRIES)]
    return {
        "externalId": external_id,
        "community": {
            "name": {"ru": f"Партнёрское сообщество {n}", "en": f"Partner community {n}"},
            "description": {"en": f"Pushed by the bench partner ({external_id})."},
            "kind": list(CommunityKind)[n % len(CommunityKind)].name,
            "form": list(OrganizationForm)[n % len(OrganizationForm)].name,
            "industries": [industry],
            "countries": ["RU"],
            "website": f"https://{external_id}.partner.example.org",
            **extra,
        },
    }


def partner_event(external_id: str, n: int, organizer: str, day: datetime) -> dict[str, Any]:
    starts = day + timedelta(days=n % 300, hours=18)
    return {
        "externalId": external_id,
        "event": {
            "title": {"ru": f"Встреча партнёра {n}", "en": f"Partner meetup {n}"},
            "format": list(EventFormat)[n % len(EventFormat)].name,
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(hours=2)).isoformat(),
            "attendanceMode": AttendanceMode.ONLINE.name,
            "onlineUrl": f"https://stream.partner.example.org/{external_id}",
            "organizers": [organizer],
        },
    }


def batch_listings(number: int, size: int, day: datetime) -> list[dict[str, Any]]:
    """Batch `number`: size/4 new communities, then new events each organized by one."""
    communities = max(1, size // 4)
    ids = [f"pc-{number:05d}-{i:03d}" for i in range(communities)]
    listings = [partner_community(ids[i], number * size + i) for i in range(communities)]
    listings += [
        partner_event(f"pe-{number:05d}-{i:03d}", number * size + i, ids[i % communities], day)
        for i in range(size - communities)
    ]
    return listings


@dataclass
class PushResult:
    listings: int = 0
    batches_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    reads: Outcome = field(default_factory=Outcome)
    reads_elapsed_s: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        per_s = self.listings / self.elapsed_s if self.elapsed_s else 0.0
        read_rps = len(self.reads.latencies_s) / self.reads_elapsed_s if self.reads_elapsed_s else 0
        return (
            f"bench partner_push_under_load: listings_per_s={per_s:.1f} "
            f"batch_p99_ms={percentile_ms(self.batches_s, 99):.1f} read_rps={read_rps:.1f} "
            f"batches={len(self.batches_s)} "
            f"batch_p50_ms={percentile_ms(self.batches_s, 50):.1f}"
        )


async def push_batch(
    client: httpx.AsyncClient, listings: list[dict[str, Any]], failures: Counter[str]
) -> bool:
    """One upsertListings call; False (and the reason counted) unless every listing was
    stored."""
    variables = {"input": {"listings": listings}}
    try:
        response = await client.post("/graphql", json={"query": UPSERT, "variables": variables})
    except httpx.HTTPError as error:
        failures[f"push transport: {error!r}"] += 1
        return False
    problem = graphql_problem(response)
    if problem is not None:
        failures[f"push: {problem}"] += 1
        return False
    payload = orjson.loads(response.content)["data"]["upsertListings"]
    if payload["rejected"] or payload["created"] + payload["updated"] != len(listings):
        errors = [r["errors"] for r in payload["results"] if r["errors"]][:3]
        failures[f"push: {payload['rejected']} rejected: {errors}"[:500]] += 1
        return False
    return True


async def push_for(
    client: httpx.AsyncClient, duration_s: float, batch_size: int, result: PushResult
) -> None:
    """Batches one after the other until `duration_s` is over (the last may end later)."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    number = 1  # batch 0 is the warm-up
    while time.perf_counter() - started < duration_s:
        listings = batch_listings(number, batch_size, day)
        sent = time.perf_counter()
        if await push_batch(client, listings, result.failures):
            result.batches_s.append(time.perf_counter() - sent)
            result.listings += len(listings)
        number += 1
    result.elapsed_s = time.perf_counter() - started


async def partner_push_under_load(
    url: str, partner_key: str, readers: int, duration_s: float, batch_size: int
) -> PushResult:
    result = PushResult()
    headers = {"Authorization": f"Bearer {partner_key}"}
    async with (
        LoadClient(url, readers, timeout=60.0) as read_client,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=BATCH_TIMEOUT_S) as push_client,
    ):
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        # Warm-up, not counted: the first batch also opens the partner's connection.
        await push_batch(push_client, batch_listings(0, batch_size, day), result.failures)
        reads = asyncio.create_task(run_load(read_client, showcase_scenario(), readers, duration_s))
        try:
            await push_for(push_client, duration_s, batch_size, result)
        finally:
            result.reads, result.reads_elapsed_s = await reads
    result.failures += result.reads.failures
    print(
        f"partner push: {result.listings} listings in {len(result.batches_s)} batches, "
        f"{len(result.reads.latencies_s)} reads, {sum(result.failures.values())} failed",
        flush=True,
    )
    report_failures(result.failures)
    return result
