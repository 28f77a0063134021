"""Matching evaluation: the real ingestion on a labelled set, scored pair by pair.

Starts its own SecantusDB under bench/out/eval-matching/, ingests the records of
bench/eval_matching_data.py source by source through `service.ingest.pipeline.ingest`
(the path every connector and partner push takes), then compares the entity each
record ended in with the ground truth: pairwise precision and recall over records
placed in one entity; `review` is the pairs sent to people. Then it counts how many
candidates a new record meets through the blocking keys in generated sets of
10,000 and 100,000 communities. Ends with one line per entity type:

    eval matching communities: precision=.. recall=.. f1=.. pairs_true=.. pairs_pred=.. review=..

and the lines `eval matching time:` (the matching share of ingestion time) and
`eval matching candidates:`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from eval_matching_data import GROUPS, TOPICS, Record, records, typo

from schema.models import CommunityData
from service.ingest import entity_resolution
from service.ingest.pipeline import ingest
from service.matching import blocking, profiles
from service.storage.client import mongo_client
from service.storage.collections import LISTINGS, MATCH_DECISIONS, Database
from service.storage.embedded import EmbeddedDatabase
from service.storage.setup import ensure_collections

BENCH_DIR = Path(__file__).resolve().parent
BATCH = 100
SHOW = 5
TARGETS = {"precision": 0.98, "recall": 0.90, "review_share": 0.10}


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


async def run_ingestion(db: Database, labelled: Sequence[Record]) -> float:
    """Ingest source by source in batches, as syncs and partner pushes do; seconds spent."""
    by_source: dict[str, list[Record]] = defaultdict(list)
    for r in labelled:
        by_source[r.listing.source_id].append(r)
    started = time.perf_counter()
    for group in by_source.values():
        for start in range(0, len(group), BATCH):
            results = await ingest(db, [r.listing for r in group[start : start + BATCH]])
            rejected = [r for r in results if r.outcome.value == "rejected"]
            if rejected:
                raise RuntimeError(f"rejected records in the evaluation set: {rejected[:3]}")
    return time.perf_counter() - started


def pairs(clusters: dict[str, Any]) -> set[tuple[str, str]]:
    groups: dict[Any, list[str]] = defaultdict(list)
    for record, cluster in clusters.items():
        groups[cluster].append(record)
    return {
        (a, b) for members in groups.values() for a, b in itertools.combinations(sorted(members), 2)
    }


async def score(db: Database, name: str, entity: str, labelled: Sequence[Record]) -> bool:
    truth = {f"{r.listing.source_id}/{r.listing.external_id}": r.truth for r in labelled}
    predicted: dict[str, Any] = {}
    async for doc in db[LISTINGS].find({"entity": entity}, {"source_id": 1, "external_id": 1,
                                                            "entity_id": 1}):  # fmt: skip
        predicted[f"{doc['source_id']}/{doc['external_id']}"] = doc["entity_id"]
    true_pairs, predicted_pairs = pairs(truth), pairs(predicted)
    hits = len(true_pairs & predicted_pairs)
    precision = hits / len(predicted_pairs) if predicted_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    review = await db[MATCH_DECISIONS].count_documents({"entity": entity, "status": "pending"})
    print(
        f"eval matching {name}: precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} "
        f"pairs_true={len(true_pairs)} pairs_pred={len(predicted_pairs)} review={review} "
        f"records={len(labelled)} entities={len(set(predicted.values()))}",
        flush=True,
    )
    for a, b in sorted(predicted_pairs - true_pairs)[:SHOW]:
        print(f"  false merge: {a} + {b}")
    for a, b in sorted(true_pairs - predicted_pairs)[:SHOW]:
        print(f"  missed: {a} + {b}")
    return (
        precision >= TARGETS["precision"]
        and recall >= TARGETS["recall"]
        and review <= TARGETS["review_share"] * len(true_pairs)
    )


# --- candidates at scale ---------------------------------------------------------------

_SYLLABLES = ("ка", "ро", "ми", "та", "ле", "но", "ва", "ри", "са", "ту", "ден", "мар", "кос",
              "вет", "лин", "гор", "зар", "пол", "сел", "тех")  # fmt: skip


def synthetic_names(count: int, seed: int) -> list[str]:
    """Community names shaped like the evaluation set's, with a brand word so that
    they are as varied as real ones; 5% abbreviations, 5% typos."""
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        group, topic = rng.choice(GROUPS), rng.choice(TOPICS)
        brand = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        name = f"Ассоциация {group[0]} {topic[0]} «{brand}»"
        roll = rng.random()
        if roll < 0.05:
            name = "".join(w[0] for w in name.replace("«", "").split()).upper()[:5]
        elif roll < 0.10:
            name = typo(rng, name)
        names.append(name)
    return names


def candidates_per_record(size: int, seed: int, sample: int = 2000) -> tuple[float, int, int]:
    """(mean, p99, max) entities sharing a blocking key with a new record, among `size`."""
    postings: dict[str, set[int]] = defaultdict(set)
    names = synthetic_names(size + sample, seed)
    for n, name in enumerate(names[:size]):
        profile = _profile(name)
        for key in blocking.community_stored(profile):
            postings[key].add(n)
    counts = []
    for name in names[size:]:
        profile = _profile(name)
        found: set[int] = set()
        for key in blocking.community_wanted(profile):
            found |= postings.get(key, set())
        counts.append(len(found))
    counts.sort()
    return sum(counts) / len(counts), counts[int(len(counts) * 0.99)], counts[-1]


def _profile(name: str) -> profiles.CommunityProfile:
    data = CommunityData.model_validate(
        {"name": {"ru": name}, "kind": "professional", "form": "association"}
    )
    return profiles.community_of_listing(data, [], "scale")


async def main(args: argparse.Namespace) -> int:
    community_records, event_records = records(args.seed)
    database = EmbeddedDatabase(args.out / "db", fresh=True)
    await database.start(60)
    timer = Timer()
    entity_resolution.resolve = timer.wrap(entity_resolution.resolve)  # type: ignore[assignment]
    client = mongo_client(database.uri, embedded=True)
    try:
        db = client["eval_matching"]
        await client.drop_database("eval_matching")
        await ensure_collections(db)
        ingest_s = await run_ingestion(db, community_records)
        ingest_s += await run_ingestion(db, event_records)
        ok = await score(db, "communities", "community", community_records)
        ok = await score(db, "events", "event", event_records) and ok
    finally:
        await client.close()
        database.stop()
    records_n = len(community_records) + len(event_records)
    print(
        f"eval matching time: ingest_s={ingest_s:.2f} matching_s={timer.seconds:.2f} "
        f"matching_share={timer.seconds / ingest_s:.1%} records={records_n}"
    )
    for size in args.scale:
        mean, p99, most = candidates_per_record(size, args.seed)
        print(
            f"eval matching candidates: communities={size} per_new_record_mean={mean:.1f} "
            f"p99={p99} max={most}"
        )
    sources = Counter(r.listing.source_id for r in community_records + event_records)
    print("sources: " + ", ".join(f"{s}={n}" for s, n in sorted(sources.items())))
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "eval-matching")
    parser.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000])
    sys.exit(asyncio.run(main(parser.parse_args())))
