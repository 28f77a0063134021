"""Partner writes through the ingestion entry point, scoped to the partner's source.

Two guards, so one slip cannot expose another source's data: every method first
refuses a caller that is not a partner of an enabled partner source, and every
database filter written here or below (ingestion, withdrawal, idempotency)
carries the caller's `source_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from schema.enums import WithdrawOutcome
from schema.errors import AccessDenied, UserInputError
from schema.listing_input import ItemError, ListingDraft, ListingInput, drafts
from schema.models import Listing, ListingOutcome
from schema.partner import (
    MAX_IDEMPOTENCY_KEY,
    MAX_UPSERT,
    MAX_WITHDRAW,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
)
from schema.ports.partner import UpsertedItem, WithdrawnItem
from schema.principal import Principal, Role
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.ingest.withdrawal import withdraw_listings
from service.partner import idempotency
from service.read_model.barrier import ReadBarrier
from service.settings import Settings
from service.storage.collections import SOURCES, Database
from service.storage.lookups import source_listings
from service.sync.sources import PUSH, Family

UPSERT = "upsertListings"


class PartnerService:
    def __init__(
        self,
        db: Database,
        principal: Principal,
        settings: Settings,
        barrier: ReadBarrier | None = None,
    ) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
        # Read-your-writes: a write returns once this host's read model shows it.
        self._barrier = barrier

    async def upsert_listings(
        self, listings: Sequence[ListingInput], idempotency_key: str | None
    ) -> list[UpsertedItem]:
        source_id, key_id = self._caller()
        if len(listings) > MAX_UPSERT:
            raise UserInputError(
                f"at most {MAX_UPSERT} listings per call, got {len(listings)}; nothing was written",
                argument="input.listings",
            )
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise UserInputError(
                f"an idempotency key has 1-{MAX_IDEMPOTENCY_KEY} characters",
                argument="input.idempotencyKey",
            )
        await self._check_source(source_id)
        batch = drafts(listings)
        if idempotency_key is None:
            results = await self._upsert(source_id, batch)
        else:
            results = await self._upsert_once(source_id, key_id, idempotency_key, batch)
        if self._barrier is not None:
            await self._barrier.wait()
        return results

    async def _upsert_once(
        self, source_id: str, key_id: str, idempotency_key: str, batch: list[ListingDraft]
    ) -> list[UpsertedItem]:
        try:
            response = await idempotency.run_once(
                self._db,
                scope={"source_id": source_id, "key_id": key_id},
                operation=UPSERT,
                key=idempotency_key,
                request=idempotency.request_hash([draft.canonical() for draft in batch]),
                execute=lambda: self._upsert_response(source_id, batch),
                policy=idempotency.Policy(ttl_s=self._settings.idempotency_ttl_s),
            )
        except idempotency.KeyReused:
            raise IdempotencyKeyReused from None
        except idempotency.StillRunning:
            raise IdempotencyKeyInUse from None
        return [_decode(item) for item in response["results"]]

    async def withdraw_listings(self, external_ids: Sequence[str]) -> list[WithdrawnItem]:
        source_id, _ = self._caller()
        if len(external_ids) > MAX_WITHDRAW:
            raise UserInputError(
                f"at most {MAX_WITHDRAW} ids per call, got {len(external_ids)}; "
                "nothing was withdrawn",
                argument="externalIds",
            )
        await self._check_source(source_id)
        wanted = [external_id.strip() for external_id in external_ids]
        held = await withdraw_listings(self._db, source_id, wanted)
        if self._barrier is not None:
            await self._barrier.wait()
        return [
            WithdrawnItem(
                index,
                external_id,
                WithdrawOutcome.WITHDRAWN if external_id in held else WithdrawOutcome.NOT_FOUND,
            )
            for index, external_id in enumerate(wanted)
        ]

    def _caller(self) -> tuple[str, str]:
        principal = self._principal
        if principal.role is not Role.PARTNER or not principal.source_id or not principal.key_id:
            raise AccessDenied
        return principal.source_id, principal.key_id

    async def _check_source(self, source_id: str) -> None:
        # The key was checked on this request; its source may have been disabled since.
        source = await self._db[SOURCES].find_one(
            {"_id": source_id, "family": Family.PARTNER.value, "kind": PUSH, "enabled": True},
            {"_id": 1},
        )
        if source is None:
            raise AccessDenied

    async def _upsert_response(self, source_id: str, batch: list[ListingDraft]) -> dict[str, Any]:
        return {"results": [_encode(item) for item in await self._upsert(source_id, batch)]}

    async def _upsert(self, source_id: str, batch: list[ListingDraft]) -> list[UpsertedItem]:
        results: dict[int, UpsertedItem] = {}
        applied_as = await self._applied_entities(source_id, [d for d in batch if not d.errors])
        accepted: list[tuple[ListingDraft, Listing]] = []
        for draft in batch:
            errors = list(draft.errors)
            before = applied_as.get(draft.external_id)
            if not errors and draft.entity is not None and before not in (None, draft.entity):
                # One id feeds one entity: silently moving it to another kind would
                # leave the old entity behind with this source's provenance.
                errors.append(
                    ItemError(
                        f"listings.{draft.index}.externalId",
                        f"this id is your {before} listing; withdraw it before sending "
                        f"it as {draft.entity}",
                    )
                )
            listing = None if errors else _listing(source_id, draft, errors)
            if listing is None:
                results[draft.index] = _rejected(draft, errors)
            else:
                accepted.append((draft, listing))
        ingested = await ingest(self._db, [listing for _, listing in accepted])
        for (draft, _), result in zip(accepted, ingested, strict=True):
            results[draft.index] = UpsertedItem(
                index=draft.index,
                external_id=draft.external_id,
                entity=result.entity,
                outcome=result.outcome,
                entity_id=result.entity_id,
                errors=tuple(draft.payload_error(e.path, e.message) for e in result.errors),
            )
        return [results[draft.index] for draft in batch]

    async def _applied_entities(
        self, source_id: str, batch: list[ListingDraft]
    ) -> dict[str, EntityType]:
        if not batch:
            return {}
        docs = await source_listings(
            self._db,
            source_id,
            [d.external_id for d in batch],
            {"external_id": 1, "entity": 1, "state": 1},
        )
        return {
            doc["external_id"]: EntityType(doc["entity"])
            for doc in docs
            if doc.get("state") == "applied"
        }


def _listing(source_id: str, draft: ListingDraft, errors: list[ItemError]) -> Listing | None:
    if draft.entity is None or draft.payload is None:  # a draft without errors has both
        errors.append(ItemError(f"listings.{draft.index}", "no listing data"))
        return None
    try:
        return Listing(
            entity=draft.entity,
            source_id=source_id,
            external_id=draft.external_id,
            payload=draft.payload,
            url=draft.url,
        )
    except ValidationError as error:
        errors.extend(
            ItemError(f"listings.{draft.index}", e["msg"]) for e in error.errors(include_url=False)
        )
        return None


def _rejected(draft: ListingDraft, errors: list[ItemError]) -> UpsertedItem:
    return UpsertedItem(
        index=draft.index,
        external_id=draft.external_id,
        entity=draft.entity,
        outcome=ListingOutcome.REJECTED,
        errors=tuple(errors),
    )


def _encode(item: UpsertedItem) -> dict[str, Any]:
    return {
        "index": item.index,
        "external_id": item.external_id,
        "entity": item.entity.value if item.entity is not None else None,
        "outcome": item.outcome.value,
        "entity_id": item.entity_id,
        "errors": [{"path": e.path, "message": e.message} for e in item.errors],
    }


def _decode(doc: dict[str, Any]) -> UpsertedItem:
    return UpsertedItem(
        index=doc["index"],
        external_id=doc["external_id"],
        entity=EntityType(doc["entity"]) if doc["entity"] is not None else None,
        outcome=ListingOutcome(doc["outcome"]),
        entity_id=doc["entity_id"],
        errors=tuple(ItemError(e["path"], e["message"]) for e in doc["errors"]),
    )
