"""Every kind that reads files reads file:// sources under the allowed roots the same way,
and fails the same way, naming the setting, for a file outside them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.net.fetcher import SafeFetcher
from service.settings import Settings
from service.storage.collections import Database
from service.sync.engine import run_sync
from service.sync.fetch_policy import fetch_policy
from service.sync.runs import Mode, RunStatus
from service.sync.sources import SourceSpec, add_source

SOON = (datetime.now(UTC) + timedelta(days=10)).replace(hour=16, minute=0, second=0, microsecond=0)
COMMUNITY: dict[str, Any] = {
    "entity": "community",
    "external_id": "id",
    "fields": {
        "name.ru": "name",
        "kind": {"value": "professional"},
        "form": {"value": "association"},
    },
}
EVENT_PAGE = f"""<!doctype html><html><head><script type="application/ld+json">
{
    json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "Event",
            "@id": "https://events.example.org/meetup#event",
            "name": "Python meetup",
            "startDate": SOON.isoformat(),
            "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode",
            "location": {"@type": "VirtualLocation", "url": "https://meet.example.org/python"},
        }
    )
}
</script></head><body>Python meetup</body></html>
"""
CALENDAR = f"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//guildgraph tests//local//EN\r
BEGIN:VEVENT\r
UID:local-file@tests.example\r
DTSTART:{SOON:%Y%m%dT%H%M%SZ}\r
SUMMARY:Python meetup\r
LOCATION:Online event\r
URL:https://events.example.org/meetup\r
END:VEVENT\r
END:VCALENDAR\r
"""
FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Meetups</title><link>https://events.example.org/</link>
<item><title>Python meetup (online)</title><guid>https://events.example.org/meetup</guid>
<link>https://events.example.org/meetup</link>
<description>Online, {SOON:%d.%m.%Y} at 19:00</description></item>
</channel></rss>
"""


@dataclass(frozen=True)
class Kind:
    kind: str
    family: str
    file: str
    text: str
    config: Callable[[str], dict[str, Any]]  # the file's URL -> the source's config


KINDS = [
    Kind(
        "csv",
        "association",
        "reestr.csv",
        "id;name\nc-1;Союз инженеров\n",
        lambda url: {"url": url, "mapping": COMMUNITY},
    ),
    Kind(
        "json_api",
        "association",
        "records.json",
        json.dumps([{"id": "c-1", "name": "Союз инженеров"}]),
        lambda url: {"url": url, "mapping": COMMUNITY},
    ),
    Kind(
        "clusters",
        "cluster",
        "clusters.geojson",
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [37.6, 55.7]},
                        "properties": {"id": "c-1", "name": "Кластер"},
                    }
                ],
            }
        ),
        lambda url: {"url": url, "mapping": COMMUNITY},
    ),
    Kind("ics", "platform", "events.ics", CALENDAR, lambda url: {"url": url}),
    Kind("rss", "platform", "feed.xml", FEED, lambda url: {"url": url, "language": "en"}),
    Kind(
        "jsonld", "platform", "page.html", EVENT_PAGE, lambda url: {"urls": [url], "language": "en"}
    ),
    Kind(
        "singer",
        "platform",
        "capture.jsonl",
        json.dumps({"type": "RECORD", "stream": "groups", "record": {"id": "c-1", "name": "Союз"}}),
        lambda url: {"path": url, "streams": {"groups": COMMUNITY}},
    ),
]


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
async def test_a_local_file_is_read_under_the_roots_and_refused_outside_alike(
    kind: Kind, db: Database, tmp_path: Path
) -> None:
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    for folder in (allowed, elsewhere):
        folder.mkdir()
        (folder / kind.file).write_text(kind.text, encoding="utf-8")
    settings = Settings(fetch_file_roots=[allowed])
    for source_id, folder in (("inside", allowed), ("outside", elsewhere)):
        config = kind.config((folder / kind.file).as_uri())
        spec = SourceSpec(
            id=source_id, name=source_id, family=kind.family, kind=kind.kind, config=config
        )
        await add_source(db, spec)

    async with SafeFetcher(fetch_policy(settings)) as fetcher:
        inside = await run_sync(db, "inside", fetcher, mode=Mode.FULL)
        outside = await run_sync(db, "outside", fetcher, mode=Mode.FULL)

    assert inside["status"] == RunStatus.SUCCEEDED, inside["errors"]
    assert inside["counts"]["created"] == 1
    assert outside["status"] == RunStatus.FAILED
    [error] = outside["errors"]
    assert error["message"].startswith(
        f"RefusedByPolicy: {elsewhere / kind.file}: local files are read only under "
        "allow_file_roots (the setting GUILDGRAPH_FETCH_FILE_ROOTS decides this"
    ), error
