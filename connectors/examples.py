"""One source of each connector kind, as an admin registers it (`guildgraph sources add`
takes it as a file, `createSource` as its input): what `guildgraph sources kinds` and
`connectorKinds` show. Every example validates (tests/connectors/test_registry.py).
"""

from __future__ import annotations

from typing import Any

_COMMUNITY_OF_GROUP: dict[str, Any] = {
    "entity": "community",
    "external_id": "id",
    "url": "link",
    "fields": {
        "name.en": "name",
        "city": "city",
        "website": "link",
        "kind": {"value": "professional"},
        "form": {"value": "professional_group"},
    },
}
_EVENT_OF_GROUP: dict[str, Any] = {
    "entity": "event",
    "external_id": "id",
    "url": "eventUrl",
    "fields": {
        "title.en": "title",
        "starts_at": "dateTime",
        "format": {"value": "meetup"},
        "attendance_mode": {"source": "isOnline", "values": {"True": "online", "False": "offline"}},
        "venue.name": "venue.name",
        "venue.city": "venue.city",
        "online_url": "onlineUrl",
    },
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "csv": {
        "id": "nko-registry",
        "name": "Реестр НКО",
        "family": "association",
        "kind": "csv",
        "config": {
            "url": "https://registry.example.org/nko/reestr.csv",
            "encoding": "cp1251",
            "mapping": {
                "entity": "community",
                "external_id": "ОГРН",
                "invalid_values": "drop_field",
                "fields": {
                    "name.ru": "Полное наименование",
                    "aliases": {"source": "Сокращенное наименование", "split": ";"},
                    "kind": {"value": "national"},
                    "form": {
                        "source": "ОПФ",
                        "values": {"АНО": "association", "Ассоциация": "association"},
                    },
                    "countries": {"value": ["RU"]},
                    "city": "Город",
                    "website": "Сайт",
                    "founded_year": {"source": "Дата регистрации", "transform": "year"},
                    "industries": {
                        "source": "Отрасли",
                        "split": [";", ","],
                        "values": {"ИТ": "it", "Образование": "education"},
                    },
                    "identifiers.inn": "ИНН",
                    "identifiers.ogrn": "ОГРН",
                },
            },
        },
        "schedule": "0 3 * * *",
    },
    "json_api": {
        "id": "fr-associations",
        "name": "Répertoire national des associations",
        "family": "association",
        "kind": "json_api",
        "config": {
            "url": "https://api.example.org/associations",
            "records_path": "data",
            "pagination": {"type": "page", "param": "page", "size_param": "per_page"},
            "page_size": 100,
            "total_path": "meta.total",
            "mapping": {
                "entity": "community",
                "external_id": "rna",
                "fields": {
                    "name.en": "nom",
                    "aliases": {"source": "sigle", "split": ","},
                    "kind": {"value": "national"},
                    "form": {"value": "association"},
                    "countries": {"value": ["FR"]},
                    "city": "adresse_siege.commune",
                    "founded_year": {"source": "date_creation", "transform": "year"},
                    "website": "site_web",
                    "identifiers.rna": "rna",
                    "identifiers.siren": "siren",
                },
            },
        },
    },
    "clusters": {
        "id": "ru-clusters",
        "name": "Карта кластеров",
        "family": "cluster",
        "kind": "clusters",
        "config": {
            "url": "https://clusters.example.org/clusters.geojson",
            "format": "geojson",
            "mapping": {
                "entity": "community",
                "external_id": "id",
                "fields": {
                    "name.ru": "name",
                    "kind": {"value": "national"},
                    "countries": {"value": ["RU"]},
                    "region": "region",
                    "website": "site",
                    "industries": {
                        "source": "specialization",
                        "split": ";",
                        "values": {"ИТ": "it", "Медицина": "healthcare"},
                    },
                    "identifiers.inn": "inn",
                },
            },
            "members": {"source": "members", "name": "name", "website": "site"},
        },
    },
    "ics": {
        "id": "ekb-meetups",
        "name": "Екатеринбургские митапы",
        "family": "platform",
        "kind": "ics",
        "config": {
            "url": "https://calendar.example.org/ekb-meetups.ics",
            "language": "ru",
            "default_timezone": "Asia/Yekaterinburg",
            "default_format": "meetup",
            "format_rules": [
                {"format": "conference", "keywords": ["конференция", "conference"]},
                {"format": "hackathon", "categories": ["Hackathon"]},
            ],
        },
    },
    "jsonld": {
        "id": "event-pages",
        "name": "Страницы конференций",
        "family": "platform",
        "kind": "jsonld",
        "config": {
            "urls": [
                "https://events.example.org/2026/pycon-ru",
                "https://events.example.org/2026/devops-summit",
            ],
            "entities": "events",
            "language": "ru",
            "default_timezone": "Europe/Moscow",
        },
    },
    "rss": {
        "id": "pynsk-feed",
        "name": "PyNSK: анонсы",
        "family": "platform",
        "kind": "rss",
        "config": {
            "url": "https://pynsk.example.ru/category/events/feed/",
            "language": "ru",
            "default_timezone": "Asia/Novosibirsk",
            "default_venue": {"name": "Точка кипения", "city": "Новосибирск", "country": "RU"},
            "format_by_category": {"Митап": "meetup", "Воркшоп": "educational"},
        },
    },
    "graphql": {
        "id": "meetup-groups",
        "name": "Meetup: Python groups",
        "family": "platform",
        "kind": "graphql",
        "config": {
            "url": "https://api.meetup.example/gql",
            "query": (
                "query ($first: Int, $after: String) { groupSearch(first: $first, "
                "after: $after) { pageInfo { hasNextPage endCursor } edges { node { "
                "id name city link upcomingEvents { edges { node { id title dateTime "
                "eventUrl isOnline onlineUrl venue { name city } } } } } } } }"
            ),
            "variables": {"first": 50},
            "connection_path": "groupSearch",
            "mapping": _COMMUNITY_OF_GROUP,
            "children": {"path": "upcomingEvents", "mapping": _EVENT_OF_GROUP},
            "headers": {"Authorization": "Bearer <token>"},
        },
    },
    "singer": {
        "id": "meetup-tap",
        "name": "tap-meetup",
        "family": "platform",
        "kind": "singer",
        "config": {
            "command": ["tap-meetup", "--config", "/etc/guildgraph/tap-meetup.json"],
            "env": {"MEETUP_TOKEN": "<token>"},
            "streams": {"groups": _COMMUNITY_OF_GROUP, "events": _EVENT_OF_GROUP},
        },
    },
}
