"""Paginated JSON registries of associations, as the sync tests register them."""

from __future__ import annotations

from typing import Any

from service.sync.sources import SourceSpec

# Records look like {"ogrn": "1027700000001", "name": "...", "opf": "АНО"}.
OGRN_MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ogrn",
    "fields": {
        "name.ru": "name",
        "kind": {"value": "national"},
        "form": {"source": "opf", "values": {"АНО": "association", "НП": "association"}},
        "countries": {"value": ["RU"]},
        "identifiers.ogrn": "ogrn",
    },
}


def json_registry(
    source_id: str,
    name: str,
    url: str,
    *,
    page_size: int,
    schedule: str | None = None,
    **config: Any,
) -> SourceSpec:
    """A registry served page by page (`?page=N&per_page=M`) with records under "items"."""
    return SourceSpec(
        id=source_id,
        name=name,
        family="association",
        kind="json_api",
        config={
            "url": url,
            "records_path": "items",
            "page_size": page_size,
            "pagination": {"type": "page", "param": "page", "size_param": "per_page"},
            "mapping": OGRN_MAPPING,
            **config,
        },
        schedule=schedule,
    )
