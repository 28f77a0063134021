"""Listing warnings (admin): values a source's kept listings were stored without.

A source whose mapping keeps a record with a bad value (`invalid_values:
"drop_field"`: a date 30.02.2021, a website "нет") stores the record without that
field; each such value is listed here with the raw value and why, beside the
refused records of `rejectedListings`. A warning goes when the source fixes the value.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.admin.rejected import json_value
from schema.cache_control import ADMIN_ONLY
from schema.common import wants_total
from schema.context import Info
from schema.documents import ListingWarningView
from schema.relay import Connection


@strawberry.type(description="A value a kept listing was stored without, and why")
class ListingWarning:
    source_id: str
    external_id: str
    field: str = strawberry.field(description="The payload field left out, e.g. 'founded_year'")
    raw_value: JSON = strawberry.field(description="The value as the source wrote it")
    message: str
    recorded_at: datetime

    @classmethod
    def from_doc(cls, doc: ListingWarningView) -> ListingWarning:
        return cls(
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            field=doc["field"],
            raw_value=json_value(doc.get("raw")),
            message=doc["message"],
            recorded_at=doc["recorded_at"],
        )


@strawberry.type
class ListingWarningQuery:
    @strawberry.field(
        description="A source's listing warnings by external id and field: values its kept "
        "listings were stored without (admin)",
        directives=[ADMIN_ONLY],
    )
    async def listing_warnings(
        self,
        info: Info,
        source_id: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ListingWarning]:
        page = await info.context.admin.listing_warnings(source_id, first, after, wants_total(info))
        return Connection.from_page(page, ListingWarning.from_doc)
