"""HTTP caching of GraphQL responses: Cache-Control, Vary, ETags and conditional requests.

Anonymous query answers without errors are public: any cache (a CDN, a browser) may
keep them for `max-age` seconds and serve them up to `stale-while-revalidate` more
while it fetches a new one. Everything else — answers to a key, mutations, admin
fields, answers with errors, refused requests — is `private, no-store`. Every answer
varies by the headers that can change it, so a cache keeps them apart.
"""

from __future__ import annotations

import hashlib

# The request headers an answer depends on: the media type, the language of names
# and titles, and the caller.
VARY = "Accept, Accept-Language, Authorization"
NO_STORE = "private, no-store"


def public(max_age: int, stale_while_revalidate: int) -> str:
    return f"public, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}"


def etag(body: bytes, media_type: str) -> str:
    """A strong validator of one representation: its bytes and its media type (so the
    same data as `application/json` and `application/graphql-response+json` differ)."""
    digest = hashlib.blake2b(body, digest_size=16, person=b"guildgraph-etag")
    digest.update(media_type.encode())
    return f'"{digest.hexdigest()}"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """Whether an `If-None-Match` header names the current representation (RFC 9110
    13.1.2: weak comparison; `*` matches any)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == current:
            return True
    return False


def wants_fresh(cache_control: str | None, pragma: str | None) -> bool:
    """Whether the request asks for an answer not served from a cache (`Cache-Control:
    no-cache`, `no-store` or `max-age=0`; HTTP/1.0's `Pragma: no-cache`)."""
    if pragma and "no-cache" in pragma.lower():
        return True
    if not cache_control:
        return False
    directives = {part.strip().lower().replace(" ", "") for part in cache_control.split(",")}
    return bool(directives & {"no-cache", "no-store", "max-age=0"})
