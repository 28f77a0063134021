"""JSON API registries over loopback HTTP: pagination, resume, loops, bad bodies and
the real French association payload (API Entreprise, RNA)."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import yaml
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError
from connectors.json_api import JsonApiConfig, JsonApiConnector, JsonApiStream, with_query
from connectors.net.fetcher import SafeFetcher
from schema.models import CommunityData, Listing
from tests.connectors.loopback import Handler, loopback_server, static

FRENCH = Path("/work/shared/fixtures/real/fr_api_entreprise_association.yaml")

ASSOCIATIONS: list[dict[str, Any]] = [
    {
        "ogrn": ogrn,
        "inn": inn,
        "full_name": name,
        "opf": opf,
        "region": {"code": region_code, "name": region},
    }
    for ogrn, inn, name, opf, region_code, region in [
        ("1170280012345", "0278123456", "АНО «Центр цифровых компетенций»", "АНО", "02",
         "Республика Башкортостан"),
        ("1027700123456", "7701234567", "НП «Союз разработчиков ПО»", "НП", "77", "г. Москва"),
        ("1116600004567", "6670123456", "Ассоциация «Энергоэффективность Урала»", "Ассоциация",
         "66", "Свердловская область"),
        ("1020300987654", "0326012345", "НП «Транспортно-логистический союз Байкала»", "НП",
         "03", "Республика Бурятия"),
        ("1195476012340", "5405123456", "АНО ДПО «Школа ёмких данных»", "АНО", "54",
         "Новосибирская область"),
        ("1127800001122", "7801123456", "Ассоциация «Кластер медицинского приборостроения»",
         "Ассоциация", "78", "г. Санкт-Петербург"),
        ("1091600003344", "1655123456", "АНО «ИТ-парк Казань»", "АНО", "16",
         "Республика Татарстан"),
    ]
]  # fmt: skip
OGRNS = [a["ogrn"] for a in ASSOCIATIONS]

MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ogrn",
    "fields": {
        "name.ru": "full_name",
        "form": {
            "source": "opf",
            "values": {"АНО": "association", "НП": "association", "Ассоциация": "association"},
        },
        "kind": {"value": "national"},
        "countries": {"value": ["RU"]},
        "region": "region.name",
        "identifiers.inn": "inn",
        "identifiers.ogrn": "ogrn",
    },
}


def _int(request: Request, name: str, default: int) -> int:
    return int(request.query_params.get(name, default))


def json_response(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")


def by_page(request: Request) -> Response:
    page, size = _int(request, "page", 1), _int(request, "per_page", 10)
    items = ASSOCIATIONS[(page - 1) * size : page * size]
    meta = {"page": page, "total": len(ASSOCIATIONS), "pages": "many"}
    return json_response({"data": {"items": items}, "meta": meta})


def by_offset(request: Request) -> Response:
    # The server caps the limit at 2 whatever is asked, as many APIs do.
    offset, limit = _int(request, "offset", 0), min(_int(request, "limit", 10), 2)
    return json_response({"results": ASSOCIATIONS[offset : offset + limit]})


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"after:{index}".encode()).decode()


def by_cursor(request: Request) -> Response:
    given = request.query_params.get("after")
    start = int(base64.urlsafe_b64decode(given).decode().split(":")[1]) if given else 0
    end = start + _int(request, "limit", 10)
    document: dict[str, Any] = {"items": ASSOCIATIONS[start:end], "paging": {}}
    if end < len(ASSOCIATIONS):
        document["paging"]["next"] = _cursor(end)
    return json_response(document)


PAGINATIONS: dict[str, dict[str, Any]] = {
    "page": {
        "route": by_page,
        "records_path": "data.items",
        "pagination": {"type": "page", "param": "page", "size_param": "per_page"},
        "checkpoints": [{"page": 2}, {"page": 3}, {"page": 4}, {}],
        "requests": 4,  # the last page is known only by the empty one after it
    },
    "offset": {
        "route": by_offset,
        "records_path": "results",
        "pagination": {"type": "offset"},
        "checkpoints": [{"offset": 2}, {"offset": 4}, {"offset": 6}, {"offset": 7}, {}],
        "requests": 5,
    },
    "cursor": {
        "route": by_cursor,
        "records_path": "items",
        "pagination": {
            "type": "cursor",
            "cursor_path": "paging.next",
            "param": "after",
            "size_param": "limit",
        },
        "checkpoints": [{"cursor": _cursor(3)}, {"cursor": _cursor(6)}, {}],
        "requests": 3,  # no next cursor: no extra request
    },
}


def stream_for(
    fetcher: SafeFetcher, url: str, kind: str | None = None, **overrides: Any
) -> JsonApiStream:
    given: dict[str, Any] = {"url": url, "page_size": 3, "mapping": MAPPING}
    if kind is not None:
        given["records_path"] = PAGINATIONS[kind]["records_path"]
        given["pagination"] = PAGINATIONS[kind]["pagination"]
    given.update(overrides)
    [stream] = JsonApiConnector(
        "ru-nko-api", JsonApiConfig.model_validate(given), fetcher
    ).streams()
    return stream


async def collect(
    stream: JsonApiStream,
    state: dict[str, Any] | None = None,
    *,
    into: list[Emitted] | None = None,
    stop_after_checkpoints: int | None = None,
) -> list[Emitted]:
    items: list[Emitted] = [] if into is None else into
    # An async generator: closed at once when the consumer stops, as the engine does.
    records = cast(AsyncGenerator[Emitted, None], stream.records(state))
    try:
        async for item in records:
            items.append(item)
            if stop_after_checkpoints is not None and (
                sum(isinstance(i, Checkpoint) for i in items) == stop_after_checkpoints
            ):
                break
    finally:
        await records.aclose()
    return items


def listings(items: list[Emitted]) -> list[Listing]:
    return [item for item in items if isinstance(item, Listing)]


def checkpoints(items: list[Emitted]) -> list[dict[str, Any]]:
    return [item.state for item in items if isinstance(item, Checkpoint)]


@pytest.mark.parametrize("kind", PAGINATIONS)
async def test_every_record_is_read_once_with_a_checkpoint_after_each_page(
    kind: str, fetcher: SafeFetcher
) -> None:
    case = PAGINATIONS[kind]
    async with loopback_server({"/nko": case["route"]}) as server:
        items = await collect(stream_for(fetcher, server.url("/nko"), kind))
        requests = server.seen["/nko"]

    assert [listing.external_id for listing in listings(items)] == OGRNS
    assert checkpoints(items) == case["checkpoints"]
    assert isinstance(items[-1], Checkpoint)
    assert len(requests) == case["requests"]
    for listing in listings(items):
        assert CommunityData.model_validate(listing.payload).region is not None


@pytest.mark.parametrize(
    ("total_path", "expected"),
    [("meta.total", len(OGRNS)), (None, None), ("meta.pages", None), ("meta.absent", None)],
)
async def test_checkpoints_carry_the_total_the_api_announces(
    fetcher: SafeFetcher, total_path: str | None, expected: int | None
) -> None:
    async with loopback_server({"/nko": by_page}) as server:
        stream = stream_for(fetcher, server.url("/nko"), "page", total_path=total_path)
        items = await collect(stream, stop_after_checkpoints=1)
    (checkpoint,) = [item for item in items if isinstance(item, Checkpoint)]
    assert checkpoint.estimated_total == expected


async def test_page_requests_carry_the_page_size_and_the_configured_params(
    fetcher: SafeFetcher,
) -> None:
    async with loopback_server({"/nko": by_page}) as server:
        await collect(
            stream_for(fetcher, server.url("/nko?lang=ru"), "page", params={"status": "active"})
        )
        queries = [dict(r.query_params) for r in server.seen["/nko"]]

    assert queries[0] == {"lang": "ru", "status": "active", "page": "1", "per_page": "3"}
    assert [q["page"] for q in queries] == ["1", "2", "3", "4"]


def test_pagination_params_win_over_same_named_ones_in_the_url() -> None:
    assert (
        with_query("https://api.example/x?page=9&q=a b", {"page": "2"})
        == "https://api.example/x?page=2&q=a+b"
    )


@pytest.mark.parametrize("kind", PAGINATIONS)
async def test_a_resumed_run_continues_where_it_stopped(kind: str, fetcher: SafeFetcher) -> None:
    case = PAGINATIONS[kind]
    async with loopback_server({"/nko": case["route"]}) as server:
        stream = stream_for(fetcher, server.url("/nko"), kind)
        crashed = await collect(stream, stop_after_checkpoints=1)
        saved = crashed[-1]
        assert isinstance(saved, Checkpoint)
        assert saved.state == case["checkpoints"][0]

        resumed = await collect(stream, saved.state)

    ids = [listing.external_id for listing in listings(crashed) + listings(resumed)]
    assert ids == OGRNS  # all of them, none twice
    assert checkpoints(resumed)[-1] == {}


async def test_a_server_ignoring_the_page_parameter_is_a_pagination_loop(
    fetcher: SafeFetcher,
) -> None:
    first_page = {"data": {"items": ASSOCIATIONS[:3]}}
    async with loopback_server({"/nko": static(orjson.dumps(first_page))}) as server:
        items: list[Emitted] = []
        with pytest.raises(FatalError, match="pagination loop"):
            await collect(stream_for(fetcher, server.url("/nko"), "page"), into=items)

    # The first page was read once; the repeat was refused before any of it was emitted.
    assert [listing.external_id for listing in listings(items)] == OGRNS[:3]
    assert checkpoints(items) == [{"page": 2}]


async def test_a_cursor_that_comes_back_is_a_pagination_loop(fetcher: SafeFetcher) -> None:
    def handler(request: Request) -> Response:
        # Two cursors alternating: every page differs from the one before it.
        after = request.query_params.get("after")
        start = {None: 0, "x": 3, "y": 6}[after]
        nxt = "y" if after == "x" else "x"
        return json_response({"items": ASSOCIATIONS[start : start + 3], "paging": {"next": nxt}})

    async with loopback_server({"/nko": handler}) as server:
        items: list[Emitted] = []
        with pytest.raises(FatalError, match="pagination loop: cursor 'x' came back"):
            await collect(stream_for(fetcher, server.url("/nko"), "cursor"), into=items)

    # The page that brought the old cursor back is not emitted.
    assert [listing.external_id for listing in listings(items)] == OGRNS[:6]


async def test_a_body_that_is_not_json_is_fatal_and_names_the_url(fetcher: SafeFetcher) -> None:
    html = b"<html><body>503 Service Temporarily Unavailable</body></html>"
    async with loopback_server({"/nko": static(html)}) as server:
        url = server.url("/nko")
        with pytest.raises(
            FatalError, match=rf"{url}\?page=1&per_page=3: the response is not JSON"
        ):
            await collect(stream_for(fetcher, url, "page"))


async def test_bad_records_are_rejected_and_the_others_kept(fetcher: SafeFetcher) -> None:
    records = [ASSOCIATIONS[0], {**ASSOCIATIONS[1], "ogrn": "  "}, "not a record", ASSOCIATIONS[2]]
    async with loopback_server({"/nko": static(orjson.dumps(records))}) as server:
        items = await collect(stream_for(fetcher, server.url("/nko")))

    assert [listing.external_id for listing in listings(items)] == [OGRNS[0], OGRNS[2]]
    rejected = [item for item in items if isinstance(item, Rejected)]
    assert [r.reason.split(": ", 1)[1] for r in rejected] == [
        "no value for the external id (ogrn)",
        "a record is not an object",
    ]
    assert rejected[0].reason.startswith(server.url("/nko") + " record 1")
    assert rejected[0].raw["inn"] == "7701234567"
    assert items[-1] == Checkpoint({})


async def test_an_overlong_external_id_is_rejected_with_its_field(fetcher: SafeFetcher) -> None:
    records = [{**ASSOCIATIONS[0], "ogrn": "1" * 201}]
    async with loopback_server({"/nko": static(orjson.dumps(records))}) as server:
        items = await collect(stream_for(fetcher, server.url("/nko")))

    [rejected] = [item for item in items if isinstance(item, Rejected)]
    assert "external_id" in rejected.reason
    assert rejected.external_id == "1" * 201


async def test_a_wrong_records_path_is_fatal_on_the_first_page(fetcher: SafeFetcher) -> None:
    async with loopback_server({"/nko": by_page}) as server:
        with pytest.raises(FatalError, match=r"nothing at records_path 'data\.records'"):
            await collect(
                stream_for(fetcher, server.url("/nko"), "page", records_path="data.records")
            )


async def test_records_path_missing_on_a_later_page_ends_the_walk(fetcher: SafeFetcher) -> None:
    def handler(request: Request) -> Response:
        if request.query_params["page"] == "1":
            return json_response({"data": {"items": ASSOCIATIONS[:3]}})
        return json_response({"error": "page out of range"})

    async with loopback_server({"/nko": handler}) as server:
        items = await collect(stream_for(fetcher, server.url("/nko"), "page"))

    assert len(listings(items)) == 3
    assert checkpoints(items) == [{"page": 2}, {}]


async def test_a_run_resumed_past_the_end_finds_no_records_path_and_stops(
    fetcher: SafeFetcher,
) -> None:
    def handler(request: Request) -> Response:
        return json_response({"error": "page out of range"})

    async with loopback_server({"/nko": handler}) as server:
        items = await collect(stream_for(fetcher, server.url("/nko"), "page"), {"page": 4})

    assert items == [Checkpoint({})]


async def test_records_path_holding_a_scalar_is_fatal(fetcher: SafeFetcher) -> None:
    async with loopback_server({"/nko": static(b'{"data": {"items": 7}}')}) as server:
        with pytest.raises(FatalError, match="holds a int, not a list or an object"):
            await collect(stream_for(fetcher, server.url("/nko"), "page"))


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"pagination": {"type": "link-header"}}, "pagination"),
        ({"pagination": {"type": "cursor"}}, "pagination"),  # no cursor_path
        ({"page_size": 0}, "page_size"),
        ({"url": "ftp://registry.example/x.json"}, "url"),
        ({"headers": {"x": "y"}}, "headers"),
    ],
)
def test_bad_configuration_names_the_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JsonApiConfig.model_validate({"url": "https://api.example/x", "mapping": MAPPING, **given})

    assert caught.value.errors()[0]["loc"][0] == field


# --- the real French payload -------------------------------------------------------------

FR_MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "rna",
    "fields": {
        # LocalizedText has ru and en only: the French name goes to `en` for now.
        "name.en": "nom",
        # `split` on a character the value lacks wraps the scalar `sigle` into a list.
        "aliases": {"source": "sigle", "split": "|"},
        "description.en": "activites.objet",
        "form": {"value": "association"},
        "kind": {"value": "national"},
        "countries": {"value": ["FR"]},
        "city": "adresse_siege.commune",
        "status": {"source": "active", "values": {"True": "active", "False": "inactive"}},
        "identifiers.rna": "rna",
        "identifiers.siren": "siren",
        "identifiers.siret": "siret_siege",
    },
}


def french_route() -> Handler:
    fixture = yaml.safe_load(FRENCH.read_text(encoding="utf-8"))
    assert fixture["status"] == 200
    return static(fixture["payload"].encode(), headers={"content-type": "application/json"})


async def test_the_real_french_association_maps_to_a_community(fetcher: SafeFetcher) -> None:
    path = "/v4/djepva/api-association/associations/389486242"
    async with loopback_server({path: french_route()}) as server:
        # `data` is one object: it is read as a single record.
        stream = stream_for(fetcher, server.url(path), records_path="data", mapping=FR_MAPPING)
        items = await collect(stream)

    [listing] = listings(items)
    assert items[-1] == Checkpoint({})
    assert (listing.external_id, listing.url) == ("W301000624", server.url(path))
    assert listing.payload == {
        "name": {"en": "ASSOCIATION SPORTIVE SALINDROISE"},
        "aliases": ["ASSOCIATION SPORTIVE SALINDROISE"],
        "description": {
            "en": "Pratique du rugby, elle a pour but de creer des liens d'amitie entre tous "
            "les sportifs et developper la pratique de l'education physique."
        },
        "form": "association",
        "kind": "national",
        "countries": ["FR"],
        "city": "Salindres",
        "status": "active",
        "identifiers": [
            {"scheme": "rna", "value": "W301000624"},
            {"scheme": "siren", "value": "389486242"},
            {"scheme": "siret", "value": "38948624200032"},
        ],
    }
    community = CommunityData.model_validate(listing.payload)
    assert [i.value for i in community.identifiers] == ["W301000624", "389486242", "38948624200032"]
