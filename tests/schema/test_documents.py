"""Stored documents have exactly the keys `schema.documents` declares.

A field a writer adds without declaring it, or a declared field no writer writes,
fails here; a field renamed in a declaration fails `mypy --strict` where it is
written or read.
"""

from __future__ import annotations

import types
import typing
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, get_args, get_origin, is_typeddict

from schema import documents
from schema.models import Listing
from schema.principal import Role
from schema.taxonomy import EntityType
from service.auth.keys import create_key
from service.demo.dataset import DEMO_SOURCE, load_demo
from service.demo.sources import sync_demo_sources
from service.ingest import warnings
from service.ingest.pipeline import ingest
from service.ingest.rejected import keep_unusable
from service.ingest.withdrawal import withdraw_listings
from service.storage.collections import (
    API_KEYS,
    COMMUNITIES,
    EVENTS,
    LISTING_WARNINGS,
    LISTINGS,
    SOURCES,
    STANDARDS,
    SYNC_RUNS,
    TOMBSTONES,
    Database,
)
from service.sync.runs import Mode, claim_next, enqueue_run

DECLARED: dict[str, type] = {
    COMMUNITIES: documents.CommunityDoc,
    EVENTS: documents.EventDoc,
    STANDARDS: documents.StandardDoc,
    LISTINGS: documents.ListingDoc,
    SOURCES: documents.SourceDoc,
    SYNC_RUNS: documents.RunDoc,
    API_KEYS: documents.ApiKeyDoc,
    TOMBSTONES: documents.TombstoneDoc,
    LISTING_WARNINGS: documents.ListingWarningView,
}


class Checker:
    """Compares documents with a TypedDict, parts included; remembers the keys it saw."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: dict[type, set[str]] = defaultdict(set)

    def check(self, value: Any, declared: Any, path: str) -> None:
        if get_origin(declared) is NotRequired:
            declared = get_args(declared)[0]
        if value is None:
            return  # whether it may be null is the type checker's business
        if is_typeddict(declared):
            self.check_keys(value, declared, path)
        elif get_origin(declared) is list:
            for item in value:
                self.check(item, get_args(declared)[0], f"{path}[]")
        elif get_origin(declared) is dict:
            for item in value.values():
                self.check(item, get_args(declared)[1], f"{path}{{}}")
        elif get_origin(declared) in (types.UnionType, typing.Union):
            for arm in get_args(declared):
                if is_typeddict(arm):
                    self.check(value, arm, path)

    def check_keys(self, doc: dict[str, Any], declared: Any, path: str) -> None:
        hints = typing.get_type_hints(declared, include_extras=True)
        undeclared = sorted(set(doc) - set(hints))
        missing = sorted(declared.__required_keys__ - set(doc))
        if undeclared:
            self.problems.append(f"{path}: not declared in {declared.__name__}: {undeclared}")
        if missing:
            self.problems.append(f"{path}: required by {declared.__name__}, absent: {missing}")
        self.seen[declared].update(doc)
        for key in set(doc) & set(hints):
            self.check(doc[key], hints[key], f"{path}.{key}")

    def never_written(self) -> list[str]:
        """Keys declared in a checked TypedDict that no document had."""
        return [
            f"{declared.__name__}.{key}"
            for declared, seen in self.seen.items()
            for key in sorted(set(typing.get_type_hints(declared)) - seen)
        ]


async def _every_kind_of_document(db: Database) -> None:
    """The demo through every writer: entities of two sources and cluster memberships,
    sources and runs (finished, queued for a due time, running), refused records (beside
    an applied one and on their own), a withdrawal and its tombstone, an API key."""
    await load_demo(db)
    assert [run["status"] for run in await sync_demo_sources(db)] == ["succeeded"] * 3
    # A changed configuration: the next run is a full pass, with a note saying why.
    changed = {"$set": {"config.checkpoint_every": 999}}
    await db[SOURCES].update_one({"_id": "demo-nko-registry"}, changed)
    assert "note" in (await sync_demo_sources(db))[0]
    left_out = warnings.Recorded(DEMO_SOURCE, "x", "website", "нет", "not a web address")
    await warnings.store(db, DEMO_SOURCE, ["x"], [left_out])
    await enqueue_run(
        db, "demo-nko-registry", Mode.INCREMENTAL, "schedule", scheduled_for=datetime.now(UTC)
    )
    await enqueue_run(db, "demo-ekb-meetups", Mode.INCREMENTAL, "api")
    assert await claim_next(db, "test:1:worker", timedelta(minutes=1)) is not None

    applied = await db[LISTINGS].find_one({"source_id": DEMO_SOURCE, "entity": "community"})
    assert applied is not None
    refused = Listing(
        entity=EntityType.COMMUNITY,
        source_id=DEMO_SOURCE,
        external_id=applied["external_id"],
        payload={"name": {}},
    )
    assert (await ingest(db, [refused]))[0].outcome.value == "rejected"
    await keep_unusable(db, EntityType.COMMUNITY, DEMO_SOURCE, [(None, "not a row", "x")])

    # An event and a standard a second source feeds too: values chosen per field.
    for entity, collection in ((EntityType.EVENT, EVENTS), (EntityType.STANDARD, STANDARDS)):
        last = await db[LISTINGS].find_one(
            {"source_id": DEMO_SOURCE, "entity": entity.value}, sort=[("_id", -1)]
        )
        assert last is not None
        copy = Listing(
            entity=entity,
            source_id="demo-copy",
            external_id=last["external_id"],
            payload=last["payload"],  # the same record: the same keys, the same entity
        )
        assert (await ingest(db, [copy]))[0].outcome.value == "created"
        assert "provenance" in (await db[collection].find_one({"_id": last["entity_id"]}) or {})

    event = await db[LISTINGS].find_one({"source_id": DEMO_SOURCE, "entity": "event"})
    assert event is not None
    assert await withdraw_listings(db, DEMO_SOURCE, [event["external_id"]])
    await create_key(db, b"secret", Role.ADMIN, None, "test")


async def test_stored_documents_have_exactly_the_declared_keys(db: Database) -> None:
    await _every_kind_of_document(db)

    checker = Checker()
    for collection, declared in DECLARED.items():
        docs = await db[collection].find({}).to_list()
        assert docs, f"no {collection} to check"
        for doc in docs:
            checker.check(doc, declared, f"{collection}[{doc['_id']}]")

    assert checker.problems == []
    assert checker.never_written() == []
