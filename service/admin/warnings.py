"""Listing warnings (admin): the values a source's kept listings were stored without.

Written by `service.ingest.warnings` during syncs and reprocessing; listed here by
(external id, field), the order of their unique index.
"""

from __future__ import annotations

from typing import Any

from schema.documents import ListingWarningView
from schema.relay import Page, PageRequest
from service.storage import stored
from service.storage.collections import LISTING_WARNINGS, Database
from service.storage.keyset import Ordering, SortKey

WARNINGS = Ordering("warnings", (SortKey("external_id"), SortKey("field")))


async def warnings_page(
    db: Database, source_id: str, page: PageRequest, with_total: bool
) -> Page[ListingWarningView]:
    query: dict[str, Any] = {"source_id": source_id}
    position = WARNINGS.position(page)
    if position is not None:
        query.update(WARNINGS.after(position, page.backward))
    docs = (
        await db[LISTING_WARNINGS]
        .find(query)
        .sort([("source_id", 1), *WARNINGS.fields(page.backward)])
        .limit(page.size + 1)
        .to_list()
    )
    total = (
        await db[LISTING_WARNINGS].count_documents({"source_id": source_id}) if with_total else None
    )
    return WARNINGS.page(stored.listing_warning.all(docs), page, total)
