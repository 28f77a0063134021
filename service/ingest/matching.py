"""Matching across sources by hard keys: the same organisation from two registries is
one community with two provenance entries.

Keys are exact (no fuzzy names): registration numbers, a website's own domain, a
normalized standard code, and whatever hard keys a connector attaches to a listing
(an iCalendar UID, a platform group id). They are stored on the entity in
`match_keys` (one multikey index), so finding an entity by key is one indexed query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from schema.models import CommunityData, EventData, Listing, StandardData
from schema.taxonomy import EntityType
from service.documents.normalize import standard_code_key, website_domain
from service.storage.collections import Database
from service.storage.lookups import chunks

# Hosts many unrelated groups share: a page there says nothing about identity.
SHARED_HOSTS = frozenset(
    {
        "vk.com",
        "t.me",
        "telegram.me",
        "facebook.com",
        "linkedin.com",
        "meetup.com",
        "timepad.ru",
        "github.com",
        "sites.google.com",
        "youtube.com",
        "instagram.com",
        "x.com",
        "twitter.com",
        "ok.ru",
    }
)


def match_keys(listing: Listing, data: CommunityData | EventData | StandardData) -> list[str]:
    keys: list[str] = []
    if isinstance(data, CommunityData):
        keys += [f"{i.scheme}:{i.value}" for i in data.identifiers]
        domain = website_domain(data.website)
        if domain and domain not in SHARED_HOSTS:
            keys.append(f"domain:{domain}")
    elif isinstance(data, StandardData):
        keys.append(f"code:{standard_code_key(data.code)}")
    keys += listing.match_keys
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class Holder:
    """An entity holding a key, and the sources that already feed it."""

    entity_id: ObjectId
    sources: frozenset[str]


async def find_entities(
    db: Database, collection: str, keys: Sequence[str]
) -> dict[str, list[Holder]]:
    """key -> the entities already holding it, oldest first."""
    if not keys:
        return {}
    found: dict[str, list[Holder]] = {}
    # Every holder of a key comes from the one piece that asks for it, oldest first.
    for piece in chunks(sorted(set(keys))):
        wanted = set(piece)
        cursor = (
            db[collection]
            .find({"match_keys": {"$in": list(piece)}}, {"match_keys": 1, "sources.source_id": 1})
            .sort("_id", 1)
        )
        docs: list[dict[str, Any]] = await cursor.to_list()
        for doc in docs:
            holder = Holder(doc["_id"], frozenset(s["source_id"] for s in doc.get("sources", [])))
            for key in wanted.intersection(doc.get("match_keys", [])):
                found.setdefault(key, []).append(holder)
    return found


def pick(holders: dict[str, list[Holder]], keys: Sequence[str], source_id: str) -> ObjectId | None:
    """The entity another source feeds under one of `keys`.

    Within one source, two external ids are two records by definition, so an entity
    the same source already feeds is never a match.
    """
    for key in keys:
        for holder in holders.get(key, []):
            if source_id not in holder.sources:
                return holder.entity_id
    return None


ENTITY_ORDER = (EntityType.COMMUNITY, EntityType.STANDARD, EntityType.EVENT)
