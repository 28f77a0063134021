"""Ingestion: listings in, normalized entities with provenance out (real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from schema.models import Listing
from schema.taxonomy import EntityType
from service.documents.normalize import standard_code_key
from service.ingest.pipeline import IngestResult, Outcome, ingest
from service.ingest.validation import content_hash
from service.storage.collections import COMMUNITIES, EVENTS, LISTINGS, STANDARDS, Database
from service.storage.upgrades import LEGACY_FIELDS
from tests.conftest import GraphQLClient

SOURCE = "acme"
FETCHED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)


def community(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": {"ru": "Ассоциация ФинТех", "en": "Fintech Association"},
        "description": {"ru": "Объединение финтех-компаний", "en": "Fintech companies"},
        "kind": "national",
        "form": "association",
        "industries": ["finance"],
        "countries": ["RU"],
        "city": "Москва",
        "website": "https://fintech.example",
        "founded_year": 2017,
        "member_count": 50,
        "tags": ["Fintech"],
    }
    payload.update(overrides)
    return payload


def event(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": {"ru": "Финтех-митап", "en": "Fintech meetup"},
        "format": "meetup",
        "starts_at": "2026-03-10T19:00:00+03:00",
        "timezone": "Europe/Moscow",
        "attendance_mode": "online",
        "online_url": "https://meet.example/fintech",
        "organizers": ["x1"],
    }
    payload.update(overrides)
    return payload


def listing(
    payload: dict[str, Any],
    external_id: str = "x1",
    *,
    entity: EntityType = EntityType.COMMUNITY,
    source_id: str = SOURCE,
) -> Listing:
    return Listing(
        entity=entity,
        source_id=source_id,
        external_id=external_id,
        payload=payload,
        url=f"https://{source_id}.example/{external_id}",
        fetched_at=FETCHED,
    )


def one(results: list[IngestResult]) -> IngestResult:
    assert len(results) == 1
    return results[0]


async def _entity(db: Database, collection: str, result: IngestResult) -> dict[str, Any]:
    assert result.entity_id is not None
    doc = await db[collection].find_one({"_id": ObjectId(result.entity_id)})
    assert doc is not None
    return doc


async def _listing(db: Database, external_id: str, source_id: str = SOURCE) -> dict[str, Any]:
    doc = await db[LISTINGS].find_one({"source_id": source_id, "external_id": external_id})
    assert doc is not None
    return doc


async def test_new_listing_creates_a_normalized_entity_with_provenance(db: Database) -> None:
    payload = community(form="coffee_meetup", kind="professional")
    result = one(await ingest(db, [listing(payload)], now=NOW))

    assert result.outcome is Outcome.CREATED
    assert result.external_id == "x1"
    assert result.entity is EntityType.COMMUNITY
    assert result.errors == ()
    doc = await _entity(db, COMMUNITIES, result)
    assert doc["name"] == {"ru": "Ассоциация ФинТех", "en": "Fintech Association"}
    assert doc["form"] == "coffee_meetup"
    assert doc["formality"] == "informal"
    assert doc["tags"] == ["fintech"]
    assert doc["city"] == "Москва"
    # Its hard keys and blocking keys ("~"), for matching; what reads derive is the
    # read model's business.
    assert [k for k in doc["match_keys"] if not k.startswith("~")] == ["domain:fintech.example"]
    assert "~n:finteh" in doc["match_keys"]
    assert not set(LEGACY_FIELDS) & set(doc)
    assert doc["slug"] == "fintech-association"
    assert doc["created_at"] == NOW
    assert doc["updated_at"] == NOW
    assert doc["sources"] == [
        {
            "source_id": SOURCE,
            "external_id": "x1",
            "url": "https://acme.example/x1",
            "fetched_at": FETCHED,
        }
    ]

    raw = await _listing(db, "x1")
    assert raw["state"] == "applied"
    assert raw["entity"] == "community"
    assert raw["entity_id"] == ObjectId(result.entity_id)
    assert raw["hash"] == content_hash(payload)
    assert raw["applied_hash"] == content_hash(payload)
    assert raw["payload"] == payload
    assert "rejected" not in raw
    assert raw["waiting_for"] == []


async def test_identical_payload_is_unchanged_and_not_written(db: Database) -> None:
    first = one(await ingest(db, [listing(community())], now=NOW))
    again = one(await ingest(db, [listing(community())], now=LATER))

    assert again.outcome is Outcome.UNCHANGED
    assert again.entity_id == first.entity_id
    doc = await _entity(db, COMMUNITIES, again)
    assert doc["updated_at"] == NOW
    assert await db[COMMUNITIES].count_documents({}) == 1


async def test_changed_field_updates_the_same_entity(db: Database) -> None:
    first = one(await ingest(db, [listing(community())], now=NOW))
    changed = one(await ingest(db, [listing(community(member_count=75))], now=LATER))

    assert changed.outcome is Outcome.UPDATED
    assert changed.entity_id == first.entity_id
    doc = await _entity(db, COMMUNITIES, changed)
    assert doc["member_count"] == 75
    assert doc["created_at"] == NOW
    assert doc["updated_at"] == LATER
    assert len(doc["sources"]) == 1
    assert await db[COMMUNITIES].count_documents({}) == 1
    raw = await _listing(db, "x1")
    assert raw["applied_hash"] == content_hash(community(member_count=75))


async def test_renaming_keeps_the_slug(db: Database) -> None:
    first = one(await ingest(db, [listing(community())], now=NOW))
    renamed = community(name={"en": "Open Finance Guild"})
    one(await ingest(db, [listing(renamed)], now=LATER))
    doc = await _entity(db, COMMUNITIES, first)
    assert doc["slug"] == "fintech-association"
    assert doc["name"] == {"en": "Open Finance Guild"}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (community(kind="guild"), "kind"),
        (community(_id="5f0000000000000000000000"), "_id"),
        (community(sources=[]), "sources"),
        (community(slug="mine"), "slug"),
        ({k: v for k, v in community().items() if k != "name"}, "name"),
        (community(countries=["Russia"]), "countries"),
        (community(website="ftp://x"), "website"),
        (community(industries=["alchemy"]), "industries"),
        (community(name={}), "name"),
    ],
)
async def test_invalid_payload_is_rejected_and_kept(
    db: Database, payload: dict[str, Any], path: str
) -> None:
    result = one(await ingest(db, [listing(payload)], now=NOW))

    assert result.outcome is Outcome.REJECTED
    assert result.entity_id is None
    assert result.errors
    assert any(e.path == path or e.path.startswith(f"{path}.") for e in result.errors), (
        result.errors
    )
    raw = await _listing(db, "x1")
    assert raw["state"] == "rejected"
    assert raw["rejected"]["payload"] == payload
    assert raw["rejected"]["hash"] == content_hash(payload)
    assert [e["path"] for e in raw["rejected"]["errors"]] == [e.path for e in result.errors]
    assert all(e["message"] for e in raw["rejected"]["errors"])
    assert "payload" not in raw  # nothing good was ever applied
    assert await db[COMMUNITIES].count_documents({}) == 0


async def test_batch_keeps_valid_items_and_answers_in_input_order(db: Database) -> None:
    batch = [
        listing(community(name={"en": "Alpha"}), "a"),
        listing(community(kind="guild"), "bad-kind"),
        listing(community(name={"en": "Beta"}), "b"),
        listing(community(countries=["Russia"]), "bad-country"),
        listing(event(organizers=["a"]), "e1", entity=EntityType.EVENT),
    ]
    results = await ingest(db, batch, now=NOW)

    assert [r.external_id for r in results] == ["a", "bad-kind", "b", "bad-country", "e1"]
    assert [r.outcome for r in results] == [
        Outcome.CREATED,
        Outcome.REJECTED,
        Outcome.CREATED,
        Outcome.REJECTED,
        Outcome.CREATED,
    ]
    assert [r.entity for r in results][-1] is EntityType.EVENT
    names = {d["name"]["en"] async for d in db[COMMUNITIES].find({})}
    assert names == {"Alpha", "Beta"}
    assert await db[EVENTS].count_documents({}) == 1
    states = {d["external_id"]: d["state"] async for d in db[LISTINGS].find({})}
    assert states == {
        "a": "applied",
        "bad-kind": "rejected",
        "b": "applied",
        "bad-country": "rejected",
        "e1": "applied",
    }


async def test_rejected_update_leaves_the_entity_as_it_was(db: Database) -> None:
    first = one(await ingest(db, [listing(community())], now=NOW))
    before = await _entity(db, COMMUNITIES, first)

    bad = community(member_count=-5, countries=["Russia"])
    result = one(await ingest(db, [listing(bad)], now=LATER))

    assert result.outcome is Outcome.REJECTED
    assert await _entity(db, COMMUNITIES, first) == before
    raw = await _listing(db, "x1")
    assert raw["rejected"]["errors"]
    assert raw["payload"] == community()  # the last good record stays beside it
    assert raw["entity_id"] == ObjectId(first.entity_id)
    assert raw["applied_hash"] == content_hash(community())
    # The last good data delivered again is recognised as what the entity holds.
    again = one(await ingest(db, [listing(community())], now=LATER))
    assert again.outcome is Outcome.UNCHANGED
    assert await _entity(db, COMMUNITIES, first) == before


async def test_rejected_listing_fixed_later_is_created(db: Database) -> None:
    rejected = one(await ingest(db, [listing(community(kind="guild"))], now=NOW))
    assert rejected.outcome is Outcome.REJECTED

    fixed = one(await ingest(db, [listing(community())], now=LATER))

    assert fixed.outcome is Outcome.CREATED
    doc = await _entity(db, COMMUNITIES, fixed)
    assert doc["kind"] == "national"
    raw = await _listing(db, "x1")
    assert raw["state"] == "applied"
    assert "rejected" not in raw
    assert raw["entity_id"] == doc["_id"]


async def test_batch_with_a_rejected_organizer_still_stores_its_event(db: Database) -> None:
    results = await ingest(
        db,
        [
            listing(community(kind="guild"), "org"),
            listing(event(organizers=["org"]), "e1", entity=EntityType.EVENT),
        ],
        now=NOW,
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.CREATED]
    assert (await _entity(db, EVENTS, results[1]))["organizers"] == []
    assert (await _listing(db, "e1"))["waiting_for"] == ["org"]


async def test_rejected_update_does_not_block_a_waiting_reference(db: Database) -> None:
    good = event(organizers=["org"])
    ev = one(await ingest(db, [listing(good, "e1", entity=EntityType.EVENT)], now=NOW))
    bad = event(organizers=["org"], timezone="Mars/Olympus")
    rejected = one(await ingest(db, [listing(bad, "e1", entity=EntityType.EVENT)], now=NOW))
    assert rejected.outcome is Outcome.REJECTED

    org = one(await ingest(db, [listing(community(), "org")], now=LATER))

    # The entity keeps its last good data, whose organizer has now arrived.
    doc = await _entity(db, EVENTS, ev)
    assert doc["timezone"] == "Europe/Moscow"
    assert doc["organizers"] == [ObjectId(org.entity_id)]


async def test_same_external_id_twice_in_a_batch_rejects_the_second(db: Database) -> None:
    results = await ingest(
        db,
        [listing(community(name={"en": "First"})), listing(community(name={"en": "Second"}))],
        now=NOW,
    )

    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.REJECTED]
    assert [e.path for e in results[1].errors] == ["externalId"]
    doc = await _entity(db, COMMUNITIES, results[0])
    assert doc["name"] == {"en": "First"}
    assert await db[COMMUNITIES].count_documents({}) == 1
    raw = await _listing(db, "x1")
    assert raw["state"] == "applied"
    assert raw["payload"]["name"] == {"en": "First"}


async def test_event_organizer_arriving_later_is_resolved(db: Database) -> None:
    first = one(
        await ingest(db, [listing(event(organizers=["org"]), "e1", entity=EntityType.EVENT)])
    )
    assert first.outcome is Outcome.CREATED
    doc = await _entity(db, EVENTS, first)
    assert doc["organizers"] == []
    assert (await _listing(db, "e1"))["waiting_for"] == ["org"]

    org = one(await ingest(db, [listing(community(), "org")], now=LATER))

    doc = await _entity(db, EVENTS, first)
    assert doc["organizers"] == [ObjectId(org.entity_id)]
    assert (await _listing(db, "e1"))["waiting_for"] == []
    # Resolved now: delivering the same event again is a no-op.
    again = one(
        await ingest(db, [listing(event(organizers=["org"]), "e1", entity=EntityType.EVENT)])
    )
    assert again.outcome is Outcome.UNCHANGED


async def test_standard_issuer_arriving_later_is_resolved(db: Database) -> None:
    payload = {
        "code": "ГОСТ Р 1.0-2012",
        "title": {"ru": "Стандартизация"},
        "kind": "technical",
        "issuer": "body",
        "adopters": ["body", "user"],
    }
    std = one(await ingest(db, [listing(payload, "s1", entity=EntityType.STANDARD)], now=NOW))
    doc = await _entity(db, STANDARDS, std)
    assert doc["issuer"] is None
    assert doc["adopters"] == []
    assert doc["match_keys"] == ["code:gost-r-1.0-2012"]

    body, user = await ingest(
        db,
        [listing(community(name={"en": "Body"}), "body"), listing(community(), "user")],
        now=LATER,
    )
    doc = await _entity(db, STANDARDS, std)
    body_id, user_id = ObjectId(body.entity_id), ObjectId(user.entity_id)
    assert doc["issuer"] == body_id
    assert doc["adopters"] == [body_id, user_id]
    assert (await _listing(db, "s1"))["waiting_for"] == []


@pytest.mark.parametrize("parent_first", [True, False])
async def test_member_of_resolves_within_a_batch_in_any_order(
    db: Database, parent_first: bool
) -> None:
    parent = listing(community(name={"en": "Parent"}), "parent")
    child = listing(community(name={"en": "Child"}, member_of=["parent"]), "child")
    batch = [parent, child] if parent_first else [child, parent]
    results = {r.external_id: r for r in await ingest(db, batch, now=NOW)}

    doc = await _entity(db, COMMUNITIES, results["child"])
    assert doc["member_of"] == [ObjectId(results["parent"].entity_id)]
    assert (await _listing(db, "child"))["waiting_for"] == []


async def test_references_stay_within_their_source(db: Database) -> None:
    await ingest(db, [listing(community(), "parent", source_id="other")], now=NOW)
    child = one(await ingest(db, [listing(community(member_of=["parent"]), "child")], now=NOW))
    doc = await _entity(db, COMMUNITIES, child)
    assert doc["member_of"] == []
    assert (await _listing(db, "child"))["waiting_for"] == ["parent"]


async def test_reference_to_a_rejected_community_waits_for_a_valid_one(db: Database) -> None:
    # The organizer's only listing so far was rejected, so it has no entity yet.
    await ingest(db, [listing(community(kind="guild"), "org")], now=NOW)
    results = await ingest(
        db, [listing(event(organizers=["org"]), "e1", entity=EntityType.EVENT)], now=NOW
    )
    ev = one(results)
    assert ev.outcome is Outcome.CREATED
    assert (await _entity(db, EVENTS, ev))["organizers"] == []
    assert (await _listing(db, "e1"))["waiting_for"] == ["org"]

    org = one(await ingest(db, [listing(community(), "org")], now=LATER))
    assert org.outcome is Outcome.CREATED
    assert (await _entity(db, EVENTS, ev))["organizers"] == [ObjectId(org.entity_id)]


async def test_same_external_id_in_two_sources_is_two_entities(db: Database) -> None:
    results = await ingest(
        db,
        [
            listing(community(), "x1", source_id="acme"),
            # No shared hard key (another website): only the external id is alike.
            listing(community(website="https://beta.example"), "x1", source_id="beta"),
        ],
        now=NOW,
    )

    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED]
    assert results[0].entity_id != results[1].entity_id
    acme = await _entity(db, COMMUNITIES, results[0])
    beta = await _entity(db, COMMUNITIES, results[1])
    assert [s["source_id"] for s in acme["sources"]] == ["acme"]
    assert [s["source_id"] for s in beta["sources"]] == ["beta"]
    assert acme["slug"] != beta["slug"]
    assert {acme["slug"], beta["slug"]} & {"fintech-association"}
    assert await db[LISTINGS].count_documents({"external_id": "x1"}) == 2


async def test_event_slug_has_its_local_date(db: Database) -> None:
    payload = event(starts_at="2026-01-31T23:30:00+00:00", timezone="Europe/Moscow")
    result = one(await ingest(db, [listing(payload, "e1", entity=EntityType.EVENT)], now=NOW))

    doc = await _entity(db, EVENTS, result)
    assert doc["starts_at"] == datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert doc["timezone"] == "Europe/Moscow"
    assert doc["slug"] == "fintech-meetup-2026-02-01"


async def test_naive_event_time_is_wall_clock_in_the_event_zone(db: Database) -> None:
    payload = event(starts_at="2026-06-01T10:00:00", timezone="Asia/Novosibirsk")
    result = one(await ingest(db, [listing(payload, "e1", entity=EntityType.EVENT)], now=NOW))
    doc = await _entity(db, EVENTS, result)
    assert doc["starts_at"] == datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def test_standard_code_key_is_the_same_in_both_scripts() -> None:
    assert standard_code_key("ГОСТ Р 1.0-2012") == standard_code_key("GOST R 1.0-2012")
    assert standard_code_key("ISO/IEC 27001:2022") == standard_code_key("iso iec 27001 2022")
    assert standard_code_key("ГОСТ Р 1.0-2012") != standard_code_key("ГОСТ Р 1.0-2013")


async def test_dollar_strings_are_stored_literally(db: Database) -> None:
    payload = community(
        description={"en": "$100 fee", "ru": "$$ROOT"},
        tags=["$where", "$concat"],
        city="$city",
    )
    result = one(await ingest(db, [listing(payload)], now=NOW))

    assert result.outcome is Outcome.CREATED
    doc = await _entity(db, COMMUNITIES, result)
    assert doc["description"] == {"ru": "$$ROOT", "en": "$100 fee"}
    assert doc["tags"] == ["$where", "$concat"]
    assert doc["city"] == "$city"
    raw = await _listing(db, "x1")
    assert raw["payload"]["tags"] == ["$where", "$concat"]


async def test_ingested_community_is_served_with_its_sources(
    db: Database, fresh_api: GraphQLClient
) -> None:
    one(await ingest(db, [listing(community())], now=NOW))

    data = await fresh_api.data(
        """
        { communities(first: 10) {
            totalCount
            edges { node { slug name(lang: EN) formality
                           sources { sourceId externalId url } } } } }
        """
    )
    assert data["communities"]["totalCount"] == 1
    node = data["communities"]["edges"][0]["node"]
    assert node["slug"] == "fintech-association"
    assert node["name"] == "Fintech Association"
    assert node["formality"] == "FORMAL"
    assert node["sources"] == [
        {"sourceId": "acme", "externalId": "x1", "url": "https://acme.example/x1"}
    ]
