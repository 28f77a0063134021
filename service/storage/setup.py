"""Collections, validators and indexes created idempotently at start-up."""

from __future__ import annotations

from pymongo.errors import CollectionInvalid, OperationFailure

from service.storage.collections import Database
from service.storage.indexes import INDEXES
from service.storage.upgrades import ENTITY_COLLECTIONS, has_legacy_index, upgrade_entities
from service.storage.validators import VALIDATORS


async def ensure_collections(db: Database) -> None:
    """Create collections, validators and indexes; safe to run on every start."""
    existing = set(await db.list_collection_names())
    for name, schema in VALIDATORS.items():
        validator = {"$jsonSchema": schema}
        if name in existing:
            await db.command("collMod", name, validator=validator, validationLevel="strict")
        else:
            try:
                await db.create_collection(name, validator=validator, validationLevel="strict")
            except CollectionInvalid:
                # Another instance created it between our listing and now.
                await db.command("collMod", name, validator=validator)
    for name, indexes in INDEXES.items():
        try:
            await db[name].create_indexes(indexes)
        except OperationFailure as error:
            raise RuntimeError(f"cannot create indexes on {name}: {error}") from error
        current = await db[name].index_information()
        if name in ENTITY_COLLECTIONS and has_legacy_index(current):
            # Documents of an earlier version: upgraded before the index that marks
            # them goes, so a start stopped in between upgrades them on the next one.
            await upgrade_entities(db, name)
        # Indexes this version no longer declares only cost writes: drop them.
        wanted = {index.document["name"] for index in indexes} | {"_id_"}
        for existing_name in current:
            if existing_name not in wanted:
                await db[name].drop_index(existing_name)
