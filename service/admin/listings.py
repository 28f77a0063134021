"""Rejected listings: listing them, and reprocessing them without fetching again.

A listing keeps its latest refused record under `rejected` (`service.ingest.pipeline`).
There are two kinds, told apart by their reasons:

- a *payload* that failed validation: what the connector's mapping produced (or
  what a partner sent). Reprocessing passes it through `ingest` again, so a fix
  to validation or normalization applies it. The raw source record behind it is
  not stored, so a mapping fix reaches these only through a sync that fetches
  them again (a FULL sync re-reads everything).
- a *raw record* the connector could not map at all (`keep_unusable`: one reason
  at path "record"). Every stream that can map such a record again
  (`connectors.framework.contract.Remappable`: CSV rows, JSON API records, cluster
  features and records, GraphQL nodes and children, Singer records, RSS items,
  JSON-LD nodes) does so with the source's configuration as it is now, and the
  result is ingested when it validates, with the warnings of values it was kept
  without; one that does not stays stored raw (with the new reason), so a later fix
  can map it again. What no stream can map again is skipped: text a parser could not
  read (a malformed line, an invalid JSON-LD block), an iCalendar block (its
  occurrences are made from the whole series), a row that does not fit its header.

Reprocessing is refused while the source has an active run, so it never races a
sync writing the same listings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connectors.framework.contract import (
    FieldWarning,
    Mapped,
    Rejected,
    Remappable,
    Stream,
)
from connectors.framework.errors import FatalError
from connectors.registry import ConfigError, build_connector
from schema.admin.rejected import UNMAPPED_PATH
from schema.admin.reports import ReprocessReport
from schema.documents import ListingDoc, RejectedListingView, SourceDoc
from schema.models import Listing
from schema.relay import Page, PageRequest
from schema.taxonomy import EntityType
from service.ingest import warnings
from service.ingest.pipeline import Outcome, ingest
from service.ingest.rejected import keep_unusable
from service.ingest.validation import validate
from service.storage import stored
from service.storage.collections import LISTINGS, Database
from service.storage.keyset import Ordering

BATCH = 200
REJECTED = Ordering.by("rejected", "external_id")


def _selection(source_id: str) -> dict[str, Any]:
    return {"source_id": source_id, "rejected": {"$exists": True}}


async def rejected_page(
    db: Database, source_id: str, page: PageRequest, with_total: bool
) -> Page[RejectedListingView]:
    """A source's listings holding a refused record, by external id (the unique index)."""
    query = _selection(source_id)
    position = REJECTED.position(page)
    if position is not None:
        query.update(REJECTED.after(position))
    docs = (
        await db[LISTINGS]
        .find(query, {"payload": 0})
        # The whole unique index's order, so the server walks it from the cursor on.
        .sort([("source_id", 1), *REJECTED.fields()])
        .limit(page.size + 1)
        .to_list()
    )
    total = await db[LISTINGS].count_documents(_selection(source_id)) if with_total else None
    return REJECTED.page(stored.rejected_listing_view.all(docs), page, total)


class _NothingFetched:
    """The fetcher of a connector built to map stored records again: it fetches nothing."""

    async def get(self, url: str, **_: Any) -> Any:
        raise FatalError("reprocessing reads stored records only")

    async def post_json(self, url: str, payload: Any, **_: Any) -> Any:
        raise FatalError("reprocessing reads stored records only")

    def stream(self, url: str, **_: Any) -> Any:
        raise FatalError("reprocessing reads stored records only")


def remapping_streams(source: SourceDoc) -> list[Stream]:
    """The source's streams that can map a stored raw record again (none for a partner
    source, or a configuration that no longer validates)."""
    kind = source.get("kind")
    if kind is None or kind == "push":
        return []
    try:
        connector = build_connector(
            kind, source["_id"], source.get("config") or {}, _NothingFetched()
        )
    except ConfigError:
        return []
    return [stream for stream in connector.streams() if isinstance(stream, Remappable)]


@dataclass
class _Tally:
    reprocessed: int = 0
    applied: int = 0
    rejected: int = 0
    remapped: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class _Pending:
    listing: Listing
    stored_key: str  # the listing it came from (an unmapped record may get a new key)


class _Reprocessing:
    def __init__(self, db: Database, source: SourceDoc) -> None:
        self.db = db
        self.source_id: str = source["_id"]
        self.streams = remapping_streams(source)
        self.tally = _Tally()

    async def run(self) -> ReprocessReport:
        with warnings.collecting():
            return await self._run()

    async def _run(self) -> ReprocessReport:
        after = ""
        while True:
            docs = (
                await self.db[LISTINGS]
                .find({**_selection(self.source_id), "external_id": {"$gt": after}})
                .sort([("source_id", 1), ("external_id", 1)])
                .limit(BATCH)
                .to_list()
            )
            if not docs:
                break
            after = docs[-1]["external_id"]
            await self.batch(stored.listing.all(docs))
        t = self.tally
        return ReprocessReport(
            source_id=self.source_id,
            reprocessed=t.reprocessed,
            now_applied=t.applied,
            still_rejected=t.rejected,
            remapped=t.remapped,
            skipped=t.skipped,
        )

    async def batch(self, docs: Sequence[ListingDoc]) -> None:
        pending: list[_Pending] = []
        unmappable: list[tuple[EntityType, str, str, Any]] = []
        for doc in docs:
            if _stale(doc):
                self.tally.skipped += 1
                continue
            rejected = doc["rejected"]
            entity = EntityType(doc["entity"])
            unmapped = [e.get("path") for e in rejected.get("errors") or []] == [UNMAPPED_PATH]
            if not unmapped:
                listing = self.listing(doc, rejected["payload"])
            else:
                remapped = self.remap(doc)
                if remapped is None:
                    self.tally.skipped += 1
                    continue
                self.tally.remapped += 1
                if isinstance(remapped, Listing):
                    listing, reason = remapped, _invalid(remapped)
                else:
                    listing, reason = None, remapped.reason
                if reason is not None:
                    # Still raw, under its own key, for the next fix to map again.
                    self.tally.reprocessed += 1
                    self.tally.rejected += 1
                    unmappable.append((entity, doc["external_id"], reason, rejected["payload"]))
                    continue
            if listing is None:
                self.tally.skipped += 1
                continue
            pending.append(_Pending(listing, doc["external_id"]))
        for entity in EntityType:
            group = [(key, why, raw) for kind, key, why, raw in unmappable if kind is entity]
            if group:
                await keep_unusable(self.db, entity, self.source_id, group)
        await self.ingest(pending)

    def listing(self, doc: ListingDoc, payload: dict[str, Any]) -> Listing | None:
        rejected = doc["rejected"]
        fetched_at: datetime = rejected.get("fetched_at") or datetime.now(UTC)
        try:
            return Listing(
                entity=EntityType(doc["entity"]),
                source_id=self.source_id,
                external_id=doc["external_id"],
                payload=payload,
                url=rejected.get("url"),
                fetched_at=fetched_at,
            )
        except ValidationError:
            return None  # a key or URL today's rules refuse: only a fresh sync can fix it

    def remap(self, doc: ListingDoc) -> Listing | Rejected | None:
        """The stored raw record mapped again (its warnings recorded), or None when no
        stream of the source can map it."""
        raw, entity = doc["rejected"]["payload"], EntityType(doc["entity"])
        mapped: list[Mapped] | None = None
        for stream in self.streams:
            if isinstance(stream, Remappable):
                mapped = stream.remap(raw, doc["external_id"], entity)
            if mapped:
                break
        if not mapped:
            return None
        result = mapped[-1]
        if isinstance(result, FieldWarning):
            return None
        if isinstance(result, Listing):
            if result.entity is not entity:
                return None  # the mapping now makes another entity of it: a sync decides that
            for note in mapped[:-1]:
                if isinstance(note, FieldWarning):
                    warnings.record(
                        self.source_id, result.external_id, note.field, note.raw, note.message
                    )
        return result

    async def ingest(self, pending: list[_Pending]) -> None:
        if not pending:
            return
        # One listing per external id in a batch (ingest refuses repeats).
        unique: dict[str, _Pending] = {}
        for item in pending:
            unique.setdefault(item.listing.external_id, item)
        items = list(unique.values())
        results = await ingest(self.db, [item.listing for item in items])
        keys = [item.listing.external_id for item in items]
        await warnings.store(self.db, self.source_id, keys, warnings.take(self.source_id, keys))
        settled: list[str] = []
        moved: list[str] = []
        for item, result in zip(items, results, strict=True):
            self.tally.reprocessed += 1
            if result.outcome is Outcome.REJECTED:
                self.tally.rejected += 1
                continue
            self.tally.applied += 1
            if result.outcome is Outcome.UNCHANGED:
                settled.append(item.listing.external_id)
            if item.stored_key != item.listing.external_id:
                moved.append(item.stored_key)
        self.tally.skipped += len(pending) - len(items)
        if moved:
            # A raw record kept under a stand-in key now lives under its real one: a
            # never-applied stand-in goes; an applied one just loses the refused record.
            await self.db[LISTINGS].delete_many(
                {"source_id": self.source_id, "external_id": {"$in": moved}, "state": "rejected"}
            )
        if settled or moved:
            # Ingest leaves `rejected` in place when the record equals the live one.
            await self.db[LISTINGS].update_many(
                {"source_id": self.source_id, "external_id": {"$in": settled + moved}},
                {"$unset": {"rejected": ""}},
            )


def _invalid(mapped: Listing) -> str | None:
    """Why a re-mapped record's payload cannot be applied, if so."""
    _, errors = validate(mapped)
    if errors:
        return "mapped, but " + "; ".join(f"{e.path}: {e.message}" for e in errors)
    return None


def _stale(doc: ListingDoc) -> bool:
    """A refusal older than the listing's withdrawal: the source no longer has it."""
    withdrawn_at = doc.get("withdrawn_at")
    return (
        doc.get("state") == "withdrawn"
        and withdrawn_at is not None
        and withdrawn_at >= doc["received_at"]
    )


async def reprocess(db: Database, source: SourceDoc) -> ReprocessReport:
    return await _Reprocessing(db, source).run()
