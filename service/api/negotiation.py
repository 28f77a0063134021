"""Content negotiation: the response media type (Accept) and the content language."""

from __future__ import annotations

import re

from schema.taxonomy import Lang
from service.api.http_errors import RequestError

JSON = "application/json"

GRAPHQL_RESPONSE = "application/graphql-response+json"


def preferred_language(header: str | None, default: Lang) -> Lang:
    """The best of ru/en by the Accept-Language q-values."""
    best: tuple[float, Lang] | None = None
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("ru", "en"):
            continue
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        if best is None or quality > best[0]:
            best = (quality, Lang(primary))
    return best[1] if best else default


def response_media_type(accept: str | None) -> str:
    """Pick the response type from Accept; 406 when neither JSON type is acceptable."""
    if not accept:
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            quality = float(match.group(1)) if match.group(1).count(".") <= 1 else 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            ranked.append((quality, -position, GRAPHQL_RESPONSE))
        elif media in (JSON, "application/*", "*/*"):
            ranked.append((quality, -position, JSON))
    if not ranked:
        raise RequestError(406, f"Accept must allow {GRAPHQL_RESPONSE} or {JSON}")
    return max(ranked)[2]
