"""Validation on the way in: what a connector's listing looks like once it is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from connectors.csv_registry import CsvRegistryConfig, CsvRegistryConnector
from connectors.framework.contract import Rejected
from connectors.framework.mapping import FieldMapping, to_listing
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from schema.models import Listing
from service.ingest.pipeline import Outcome, ingest
from service.storage.collections import COMMUNITIES, Database
from tests.connectors.loopback import loopback_server

MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ogrn",
    "fields": {
        "name.ru": "name",
        "description.ru": "about",
        "aliases": {"source": "short", "split": "|"},
        "kind": {"value": "national"},
        "form": {"value": "association"},
    },
}


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with SafeFetcher(policy) as safe:
        yield safe


async def test_a_connector_listing_has_control_and_bidi_characters_removed(
    db: Database, fetcher: SafeFetcher
) -> None:
    body = (
        "ogrn;name;short;about\n"
        # A right-to-left override, a bell, DEL and an escape sequence in one row.
        "1027700000001;Ассоциация\u202e разработчиков\x07;\u202eАРИ\x7f;"
        '"Первая строка\r\nвторая\x1b[0m"\n'
        # Nothing visible left of a required name: the listing is refused.
        "1027700000002;\u2067\u2069\x01;ИТ;Описание\n"
    ).encode()

    def handler(request: Request) -> Response:
        return Response(body, media_type="text/csv")

    async with loopback_server({"/r.csv": handler}) as server:
        config = CsvRegistryConfig.model_validate({"url": server.url("/r.csv"), "mapping": MAPPING})
        [stream] = CsvRegistryConnector("nko-csv", config, fetcher).streams()
        emitted = [item async for item in stream.records(None)]
    found = [item for item in emitted if isinstance(item, Listing)]
    assert not [item for item in emitted if isinstance(item, Rejected)]

    results = await ingest(db, found)

    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.REJECTED]
    assert [(e.path, e.message) for e in results[1].errors] == [
        ("name", "Value error, needs text in at least one of 'ru' or 'en'")
    ]
    [stored] = await db[COMMUNITIES].find({}).to_list()
    assert stored["name"] == {"ru": "Ассоциация разработчиков"}
    assert stored["aliases"] == ["АРИ"]
    assert stored["description"] == {"ru": "Первая строка\nвторая[0m"}


async def test_a_junk_date_from_a_mapping_is_refused_in_plain_words(db: Database) -> None:
    # A CSV or JSON mapping hands the cell on as written; ingestion refuses it in words
    # an admin can act on, naming the field.
    mapping = FieldMapping.model_validate(
        {
            "entity": "event",
            "external_id": "id",
            "fields": {
                "title.ru": "title",
                "format": {"value": "meetup"},
                "attendance_mode": {"value": "online"},
                "starts_at": "start",
                "ends_at": "end",
            },
        }
    )
    record = {"id": "e1", "title": "Митап", "start": "yesterday", "end": "2026-13-45T19:00"}
    listing = to_listing(mapping, "events-csv", record)
    assert isinstance(listing, Listing)

    [result] = await ingest(db, [listing])

    assert result.outcome is Outcome.REJECTED
    hint = "is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"
    assert [(e.path, e.message) for e in result.errors] == [
        ("starts_at", f"'yesterday' {hint}"),
        ("ends_at", f"'2026-13-45T19:00' {hint}"),
    ]
