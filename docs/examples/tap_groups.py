"""A small Singer tap for the docs: prints SCHEMA, RECORD and STATE messages of two streams.

Run by the `singer` example source as `python3 docs/examples/tap_groups.py`; with
`--state FILE` (what guildgraph passes on the next run) it sends only what is newer.
"""

import json
import sys

GROUPS = [
    {"id": "g-201", "name": "Novosibirsk Go", "city": "Novosibirsk", "link": "https://groups.example.com/nsk-go/", "updated": 1},
    {"id": "g-202", "name": "Tomsk Rust", "city": "Tomsk", "link": "groups.example.com/tomsk-rust", "updated": 2},
]
EVENTS = [
    {"id": "e-301", "title": "Go meetup #12", "dateTime": "2026-12-18T19:00:00+07:00", "eventUrl": "https://groups.example.com/nsk-go/12", "isOnline": False, "venue": {"name": "Академпарк", "city": "Новосибирск"}, "onlineUrl": None, "updated": 3},
]


def emit(message: dict) -> None:
    print(json.dumps(message, ensure_ascii=False), flush=True)


def main() -> None:
    since = 0
    if "--state" in sys.argv:
        with open(sys.argv[sys.argv.index("--state") + 1]) as handle:
            since = json.load(handle).get("position", 0)
    emit({"type": "SCHEMA", "stream": "groups", "schema": {"type": "object"}, "key_properties": ["id"]})
    emit({"type": "SCHEMA", "stream": "events", "schema": {"type": "object"}, "key_properties": ["id"]})
    position = since
    for stream, records in (("groups", GROUPS), ("events", EVENTS)):
        for record in records:
            if record["updated"] > since:
                emit({"type": "RECORD", "stream": stream, "record": record})
                position = max(position, record["updated"])
    emit({"type": "STATE", "value": {"position": position}})


if __name__ == "__main__":
    main()
