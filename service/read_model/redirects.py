"""Merged-away entity ids in the read model: `entity_redirects` as a table.

When entities are merged (service.ingest.regroup) the ids merged away are kept in
MongoDB's `entity_redirects`, each naming its survivor (chains are kept one step
long there: service.matching.redirects). The applier follows that collection's
changes into the `redirects` table, so a link a frontend kept (`node(id)`, a
federation reference) reaches the survivor without a database round trip
(service.read.loaders.ByIdLoader reads it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from service.read_model.rows import COMMUNITIES, EVENTS, STANDARDS

# A redirect's `entity` (service.matching.redirects.record) -> the read model's table.
COLLECTION_OF = {"community": COMMUNITIES, "event": EVENTS, "standard": STANDARDS}


def upsert(connection: sqlite3.Connection, doc: Mapping[str, Any]) -> str | None:
    """Keep one redirect document; the entity collection it concerns (None: not one
    this read model holds)."""
    collection = COLLECTION_OF.get(str(doc.get("entity")))
    if collection is None or doc.get("to") is None:
        return None
    connection.execute(
        "INSERT OR REPLACE INTO redirects (id, collection, to_id) VALUES (?, ?, ?)",
        (str(doc["_id"]), collection, str(doc["to"])),
    )
    return collection


def delete(connection: sqlite3.Connection, key: Any) -> str | None:
    """Forget a redirect (its id is an entity again); the collection it concerned."""
    row = connection.execute("SELECT collection FROM redirects WHERE id = ?", (str(key),))
    found = row.fetchone()
    connection.execute("DELETE FROM redirects WHERE id = ?", (str(key),))
    return str(found[0]) if found else None


def apply_change(connection: sqlite3.Connection, change: Mapping[str, Any]) -> str | None:
    """Apply one change event of `entity_redirects`; the entity collection whose
    answers it can change (response caches count it as a change of that collection)."""
    key = change.get("documentKey", {}).get("_id")
    doc = change.get("fullDocument")
    if change["operationType"] == "delete" or doc is None:
        return delete(connection, key) if key is not None else None
    if change["operationType"] in ("insert", "update", "replace"):
        return upsert(connection, doc)
    return None


def insert_many(connection: sqlite3.Connection, docs: Iterable[Mapping[str, Any]]) -> int:
    """Add redirects to a new file (a rebuild)."""
    return sum(upsert(connection, doc) is not None for doc in docs)
