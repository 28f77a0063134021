"""Public reads take turns (service.api.read_gate); nothing else waits for them."""

from __future__ import annotations

import asyncio

import httpx

from service.api.metrics import Metrics
from service.settings import ReadConsistency
from service.storage.collections import Database
from tests.conftest import client_for, settings_for

NESTED = """
query($first: Int!) {
  communities(first: $first) {
    totalCount
    edges { node { slug events(first: 3) { edges { node { title } } } } }
  }
}
"""


async def test_concurrent_public_reads_execute_one_at_a_time_and_all_answer(
    mongo_uri: str, demo_db: Database
) -> None:
    settings = settings_for(
        mongo_uri,
        demo_db.name,
        read_consistency=ReadConsistency.SESSION,
        public_read_concurrency=1,
    )
    metrics = Metrics()
    async for http in client_for(settings, metrics):
        # Distinct variables and no-cache: every request executes.
        requests = [
            http.post(
                "/graphql",
                json={"query": NESTED, "variables": {"first": 5 + n}},
                headers={"cache-control": "no-cache"},
            )
            for n in range(6)
        ]
        answers: list[httpx.Response] = await asyncio.gather(*requests)
        assert [a.status_code for a in answers] == [200] * 6
        for n, answer in enumerate(answers):
            edges = answer.json()["data"]["communities"]["edges"]
            assert len(edges) == 5 + n
        stats = metrics.public_reads
        assert stats.peak == 1
        assert stats.executing == 0
        assert stats.waited >= 1  # they did arrive together, and took turns
        exposition = (await http.get("/metrics")).text
        assert "guildgraph_public_reads_limit 1" in exposition
