from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.cluster_registry import (
    ClusterMember,
    ClusterRegistryConfig,
    ClusterRegistryConnector,
    ClusterStream,
    MemberHints,
    MembersRule,
    cluster_members,
    valid_inn,
)
from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from schema.models import CommunityData, Identifier, Listing
from tests.connectors.loopback import conditional, loopback_server

FIXTURES = Path(__file__).parent / "fixtures" / "clusters"
GEOJSON = (FIXTURES / "industry_clusters.geojson").read_bytes()
RECORDS = (FIXTURES / "industry_clusters_records.json").read_bytes()
ETAG = '"clusters-v1"'

SPECIALISATIONS = {
    "Фармацевтика": "healthcare",
    "Медицина": "healthcare",
    "Биотехнологии": "biotech",
    "Информационные технологии": "it",
    "Авиастроение": "aerospace",
    "Транспорт": "transport",
}
GEOJSON_MAPPING = {
    "entity": "community",
    "external_id": "id",
    "url": "registry_url",
    "fields": {
        "name.ru": "name",
        "name.en": "name_en",
        "region": "region",
        "city": "city",
        "founded_year": "founded",
        "member_count": "members_count",
        "kind": {"value": "specialized"},
        "countries": {"value": ["RU"]},
        "industries": {"source": "specialization", "split": ";", "values": SPECIALISATIONS},
        "identifiers.inn": "coordinator_inn",
    },
}
RECORDS_MAPPING = {
    "entity": "community",
    "external_id": "reg_no",
    "fields": {
        "name.ru": "title",
        "region": "region",
        "city": "city",
        "kind": {"value": "specialized"},
        "industries": {"source": "profile", "split": ";", "values": SPECIALISATIONS},
    },
}


def geojson_config(url: str) -> ClusterRegistryConfig:
    return ClusterRegistryConfig.model_validate(
        {"url": url, "mapping": GEOJSON_MAPPING, "members": {}}
    )


def records_config(url: str) -> ClusterRegistryConfig:
    return ClusterRegistryConfig.model_validate(
        {
            "url": url,
            "format": "records",
            "records_path": "data.clusters",
            "latitude": "latitude",
            "longitude": "longitude",
            "mapping": RECORDS_MAPPING,
            "members": {"source": "participants", "split": ";"},
        }
    )


@asynccontextmanager
async def registry(body: bytes, *, records: bool = False) -> AsyncIterator[ClusterStream]:
    policy = FetchPolicy(allowed_networks=["127.0.0.1/32"], per_host_rate=None)
    async with (
        SafeFetcher(policy) as fetcher,
        loopback_server({"/clusters": conditional(body, ETAG, "application/geo+json")}) as server,
    ):
        url = server.url("/clusters")
        config = records_config(url) if records else geojson_config(url)
        (stream,) = ClusterRegistryConnector("cluster-registry", config, fetcher).streams()
        yield stream


async def collect(stream: ClusterStream, state: dict[str, Any] | None = None) -> list[Emitted]:
    return [item async for item in stream.records(state)]


def by_id(items: list[Emitted]) -> dict[str, Listing]:
    return {x.external_id: x for x in items if isinstance(x, Listing)}


async def test_geojson_features_become_cluster_communities() -> None:
    async with registry(GEOJSON) as stream:
        items = await collect(stream)

    clusters = by_id(items)
    assert list(clusters) == ["RU-KLU-001", "RU-TOM-002", "RU-NVS-003", "RU-ULY-004", "RU-NIZ-009"]
    for listing in clusters.values():
        CommunityData.model_validate(listing.payload)  # ingestion will accept every one
    kaluga = clusters["RU-KLU-001"].payload
    assert kaluga["form"] == "cluster"
    assert kaluga["location"] == {"lat": 55.0968, "lon": 36.6104}  # GeoJSON is [lon, lat]
    assert kaluga["region"] == "Калужская область"
    assert kaluga["industries"] == ["healthcare", "biotech"]
    assert kaluga["tags"] == ["Медицинская техника"]  # no industry code: kept as a tag
    assert kaluga["identifiers"] == [{"scheme": "inn", "value": "4025526018"}]
    assert clusters["RU-KLU-001"].url == "https://clusters.example.ru/cluster/RU-KLU-001"
    tomsk = clusters["RU-TOM-002"].payload  # id from the feature, not its properties
    assert tomsk["location"] == {"lat": 56.4846, "lon": 84.9476}
    assert tomsk["industries"] == ["it"]
    assert clusters["RU-NVS-003"].payload["industries"] == ["healthcare", "biotech"]
    assert clusters["RU-NIZ-009"].payload["location"] == {"lat": 56.2965, "lon": 43.9361}
    assert items[-1] == Checkpoint({"etag": ETAG})


async def test_bad_features_are_rejected_with_the_reason() -> None:
    async with registry(GEOJSON) as stream:
        items = await collect(stream)

    rejected = [(x.external_id, x.reason) for x in items if isinstance(x, Rejected)]
    assert rejected == [
        ("RU-TUL-005", "no geometry"),
        ("RU-SAM-006", "coordinates out of range (lat 95.0, lon 200.5)"),
        ("RU-MOW-007", "no name (name.ru and name.en are empty)"),
        ("RU-TAT-008", "geometry is a Polygon; only a Point locates a cluster"),
        ("RU-KLU-001", "the registry lists this external id more than once"),
    ]
    assert all(x.raw for x in items if isinstance(x, Rejected))


async def test_members_are_exposed_per_cluster_for_matching() -> None:
    async with registry(GEOJSON) as stream:
        assert isinstance(stream, MemberHints)
        async for item in stream.records(None):
            if isinstance(item, Listing):
                # Available as soon as the cluster's listing is yielded.
                assert stream.members_of(item.external_id) is not None

        kaluga = stream.members_of("RU-KLU-001")
        tomsk = stream.members_of("RU-TOM-002")
        ulyanovsk = stream.members_of("RU-ULY-004")
        rejected = stream.members_of("RU-TUL-005")

    assert len(kaluga) == 5  # the repeated Novo Nordisk entry counts once
    assert kaluga[0] == ClusterMember(
        name="ООО «Ново Нордиск»",
        website="https://www.novonordisk.ru",
        identifiers=(Identifier(scheme="inn", value="4029830160"),),
    )
    assert kaluga[1].website == "https://astrazeneca.ru"  # a bare domain
    assert kaluga[3].identifiers == (Identifier(scheme="inn", value="4025815901"),)
    # A ИНН with wrong control digits is dropped; the member stays, by name.
    assert kaluga[4] == ClusterMember(name="ООО «Медбиофарм»")
    assert ClusterMember(name="ООО «Рубиус Групп»") in tomsk  # a plain string entry
    assert (
        ClusterMember(
            name=None,
            website="https://tomsk-soft.example.ru",
            identifiers=(Identifier(scheme="inn", value="7018462810"),),
        )
        in tomsk
    )
    assert len(tomsk) == 5  # the entry with neither a name nor a valid ИНН is dropped
    assert [m.name for m in ulyanovsk] == [
        "ПАО «Авиастар-СП»",
        "ООО «Авиакомпания «Волга-Днепр»",
        "УлГТУ",
    ]
    assert rejected == ()


async def test_an_unchanged_registry_yields_only_its_checkpoint() -> None:
    async with registry(GEOJSON) as stream:
        first = await collect(stream)
        assert isinstance(first[-1], Checkpoint)
        second = await collect(stream, first[-1].state)
        assert second == [Checkpoint({"etag": ETAG})]
        assert stream.members_of("RU-KLU-001") == ()  # members belong to one run


async def test_json_records_with_lat_lon_columns() -> None:
    async with registry(RECORDS, records=True) as stream:
        items = await collect(stream)
        ulyanovsk_members = stream.members_of("12")
        tomsk_members = stream.members_of("27")

    clusters = by_id(items)
    assert list(clusters) == ["12", "27"]
    for listing in clusters.values():
        CommunityData.model_validate(listing.payload)
    assert clusters["12"].payload["location"] == {"lat": 54.3142, "lon": 48.4031}  # "54,3142"
    assert clusters["12"].payload["industries"] == ["aerospace"]
    assert [m.name for m in ulyanovsk_members] == [
        "ПАО «Авиастар-СП»",
        "ООО «Авиакомпания «Волга-Днепр»",
        "УлГТУ",
    ]
    assert [m.name for m in tomsk_members] == ["ТУСУР", "АО «НПФ «Микран»"]
    rejected = [(x.external_id, x.reason) for x in items if isinstance(x, Rejected)]
    assert rejected == [
        ("31", "no usable coordinates (lat '', lon None)"),
        ("33", "coordinates (0, 0) are a placeholder, not a place"),
        (None, "not an object"),
    ]


@pytest.mark.parametrize(
    ("body", "records", "message"),
    [
        (b"<html>maintenance</html>", False, "not JSON"),
        (b'{"type": "Feature", "geometry": null}', False, "not a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection"}', False, "no 'features' list"),
        (b'{"data": {"items": []}}', True, "no list of records at data.clusters"),
    ],
)
async def test_an_unreadable_registry_is_fatal(body: bytes, records: bool, message: str) -> None:
    async with registry(body, records=records) as stream:
        with pytest.raises(FatalError, match=message):
            await collect(stream)


def test_cluster_members_reads_any_record() -> None:
    rule = MembersRule(source="участники", name="наименование", identifiers={"inn": "ИНН"})
    record = {"участники": [{"наименование": "АО «Авиастар-СП»", "ИНН": 7328797541}, 42]}
    assert cluster_members(record, rule) == [
        ClusterMember(
            name="АО «Авиастар-СП»", identifiers=(Identifier(scheme="inn", value="7328797541"),)
        )
    ]
    assert cluster_members({}, rule) == []


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("4025526018", True),  # organisation, 10 digits
        ("4025526019", False),
        ("500100732259", True),  # individual, 12 digits
        ("500100732258", False),
        ("402552601", False),
        ("40255260１8", False),  # a full-width digit
    ],
)
def test_inn_control_digits(value: str, valid: bool) -> None:
    assert valid_inn(value) is valid


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mapping": {**GEOJSON_MAPPING, "entity": "event", "fields": {}}}, "mapping"),
        ({"members": {"identifiers": {"ИНН": "inn"}}}, "members.identifiers"),
        ({"format": "shapefile"}, "format"),
        ({"url": "ftp://registry.example/clusters.json"}, "url"),
    ],
)
def test_bad_configuration_names_the_field(change: dict[str, Any], field: str) -> None:
    config = {"url": "https://registry.example/clusters.geojson", "mapping": GEOJSON_MAPPING}
    with pytest.raises(ValidationError) as caught:
        ClusterRegistryConfig.model_validate({**config, **change})
    assert ".".join(map(str, caught.value.errors()[0]["loc"])) == field
