"""A source's listings are looked up through the (source_id, external_id) index, however
many listings other sources hold: the look-ups of a partner's upsert and withdrawal
read the listings they ask for, not the collection."""

from __future__ import annotations

from schema.models import Listing
from schema.taxonomy import EntityType
from service.ingest.pipeline import ingest
from service.storage.collections import LISTINGS, Database
from tests.conftest import GraphQLClient, client_for, settings_for
from tests.service.partner.test_partner import UPSERT, WITHDRAW, bearer, partner_key
from tests.service.partner.test_partner import community as partner_community
from tests.service.storage.test_indexes import CommandRecorder

OTHERS = 300
MINE = 5


def community(external_id: str) -> Listing:
    payload = {
        "name": {"en": f"Guild {external_id}"},
        "kind": "professional",
        "form": "association",
    }
    return Listing(
        entity=EntityType.COMMUNITY, source_id="registry", external_id=external_id, payload=payload
    )


async def test_a_partners_listing_look_ups_examine_only_its_listings(
    mongo_uri: str, db: Database
) -> None:
    await ingest(db, [community(f"r{n}") for n in range(OTHERS)])
    key = await partner_key(db)
    recorder = CommandRecorder()
    listings = [
        {"externalId": f"p{n}", "community": partner_community(f"Partner guild {n}")}
        for n in range(MINE)
    ]
    async for http in client_for(settings_for(mongo_uri, db.name), recorder):
        api = GraphQLClient(http)
        upsert = {"input": {"listings": listings}}
        upserted = await api.query(UPSERT, upsert, **bearer(key))
        assert upserted["data"]["upsertListings"]["created"] == MINE, upserted
        again = await api.query(UPSERT, upsert, **bearer(key))
        assert again["data"]["upsertListings"]["unchanged"] == MINE, again
        withdrawn = await api.query(WITHDRAW, {"ids": ["p0", "p1", "unknown"]}, **bearer(key))
        assert withdrawn["data"]["withdrawListings"]["withdrawn"] == 2, withdrawn
    finds = [c["filter"] for c in recorder.commands if c.get("find") == LISTINGS]
    assert finds
    examined = {}
    for selection in finds:
        explain = await db.command(
            "explain", {"find": LISTINGS, "filter": selection}, verbosity="executionStats"
        )
        examined[str(selection)[:200]] = explain["executionStats"]["totalDocsExamined"]
    # At most the partner's own; a filter the index cannot answer reads all of them.
    assert max(examined.values()) <= MINE, examined
