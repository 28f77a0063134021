"""`filter_terms`: one multikey-indexed array for every equality filter of an entity.

On the embedded server every index is rewritten on every write of a document, so
one array of "field=value" strings, with one index, replaces an index per
filterable field. Reads add a `filter_terms` clause for the most selective
equality condition (see service.read.filters.indexed) and keep the exact clause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Most selective first: the first one a filter uses is the one the index walks.
TERM_FIELDS = (
    "member_of",
    "organizers",
    "parties",
    "issuer",
    "adopters",
    "identifiers",
    "website_domain",
    "city_key",
    "tags",
    "venue.country",
    "countries",
    "industries",
    "offers",
    "form",
    "format",
    "kind",
    "attendance_mode",
    "formality",
    "status",
)


def term(field: str, value: Any) -> str:
    return f"{field}={value}"


def _at(fields: Mapping[str, Any], path: str) -> Any:
    value: Any = fields
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def filter_terms(fields: Mapping[str, Any]) -> list[str]:
    """The terms of an entity document's fields (ids as hex, identifiers as scheme:value)."""
    found: dict[str, None] = {}
    for name in TERM_FIELDS:
        value = _at(fields, name)
        if name == "identifiers":
            value = [f"{i['scheme']}:{i['value']}" for i in value or []]
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                found[term(name, item)] = None
    return list(found)
