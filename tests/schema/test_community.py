"""Communities: filters and their combinations, pagination, lookups, nested fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient

LIST = """
query($filter: CommunityFilter, $first: Int, $after: String, $last: Int, $before: String,
      $sort: CommunitySort) {
  communities(filter: $filter, first: $first, after: $after, last: $last, before: $before,
              sort: $sort) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id slug name kind form formality industries countries city
                          foundedYear memberCount offers tags status } }
  }
}
"""


async def _nodes(api: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    data = await api.data(LIST, {"first": 100, **variables})
    return [edge["node"] for edge in data["communities"]["edges"]]


async def _slug_of(api: GraphQLClient, name: str) -> dict[str, Any]:
    nodes = await _nodes(api)
    return next(n for n in nodes if n["name"] == name)


async def test_filter_by_kind_returns_only_that_kind(api: GraphQLClient) -> None:
    nodes = await _nodes(api, filter={"kinds": ["INTERNATIONAL"]})
    assert nodes
    assert {n["kind"] for n in nodes} == {"INTERNATIONAL"}


async def test_filter_by_forms_and_formality(api: GraphQLClient) -> None:
    informal = await _nodes(api, filter={"formality": "INFORMAL"})
    assert informal
    assert {n["formality"] for n in informal} == {"INFORMAL"}
    assert "ASSOCIATION" not in {n["form"] for n in informal}
    clusters = await _nodes(api, filter={"forms": ["CLUSTER", "REGULATOR"]})
    assert {n["form"] for n in clusters} == {"CLUSTER", "REGULATOR"}


async def test_industries_any_and_all(api: GraphQLClient) -> None:
    any_of = await _nodes(api, filter={"industries": ["finance", "healthcare"]})
    all_of = await _nodes(api, filter={"industries": ["it", "education"], "industriesMatch": "ALL"})
    assert all({"finance", "healthcare"} & set(n["industries"]) for n in any_of)
    assert all({"it", "education"} <= set(n["industries"]) for n in all_of)
    assert all_of
    it_only = await _nodes(api, filter={"industries": ["it"]})
    assert len(all_of) < len(it_only)


async def test_filter_by_country_city_tags_offers(api: GraphQLClient) -> None:
    kz = await _nodes(api, filter={"countries": ["KZ"]})
    assert kz
    assert all("KZ" in n["countries"] for n in kz)
    moscow = await _nodes(api, filter={"city": "москва"})
    assert moscow
    assert {n["city"] for n in moscow} == {"Москва"}
    mentors = await _nodes(api, filter={"offers": ["MENTORSHIP"]})
    assert mentors
    assert all("MENTORSHIP" in n["offers"] for n in mentors)
    tagged = await _nodes(api, filter={"tags": [mentors[0]["tags"][0].upper()]})
    assert mentors[0]["slug"] in {n["slug"] for n in tagged}


async def test_founded_year_range_is_inclusive(api: GraphQLClient) -> None:
    nodes = await _nodes(api, filter={"foundedYear": {"min": 2000, "max": 2010}})
    assert nodes
    assert all(2000 <= n["foundedYear"] <= 2010 for n in nodes)


async def test_and_or_combinations(api: GraphQLClient) -> None:
    either = await _nodes(api, filter={"OR": [{"forms": ["REGULATOR"]}, {"kinds": ["CORPORATE"]}]})
    assert either
    assert all(n["form"] == "REGULATOR" or n["kind"] == "CORPORATE" for n in either)
    assert {n["form"] for n in either} > {"REGULATOR"}
    both = await _nodes(
        api,
        filter={"AND": [{"industries": ["it"]}, {"countries": ["RU"]}], "formality": "FORMAL"},
    )
    assert both
    assert all(
        "it" in n["industries"] and "RU" in n["countries"] and n["formality"] == "FORMAL"
        for n in both
    )


async def test_member_of_and_has_upcoming_events(api: GraphQLClient) -> None:
    data = await api.data('{ community(slug: "russian-medical-association") { id } }')
    rma_id = data["community"]["id"]
    members = await _nodes(api, filter={"memberOf": rma_id})
    assert members
    with_events = await _nodes(api, filter={"hasUpcomingEvents": True})
    without = await _nodes(api, filter={"hasUpcomingEvents": False})
    everyone = await _nodes(api)
    assert with_events
    assert without
    assert len(with_events) + len(without) == len(everyone)


async def test_forward_pages_cover_everything_once_with_stable_cursors(
    api: GraphQLClient,
) -> None:
    seen: list[str] = []
    after = None
    while True:
        data = await api.data(LIST, {"first": 7, "after": after})
        connection = data["communities"]
        seen += [e["node"]["slug"] for e in connection["edges"]]
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    everything = [n["slug"] for n in await _nodes(api)]
    assert seen == everything
    assert len(seen) == len(set(seen)) == connection["totalCount"]
    again = await api.data(LIST, {"first": 7, "after": after})
    assert [e["node"]["slug"] for e in again["communities"]["edges"]] == seen[
        -len(again["communities"]["edges"]) :
    ]


async def test_backward_pages_mirror_forward_pages(api: GraphQLClient) -> None:
    everything = [n["slug"] for n in await _nodes(api)]
    last = await api.data(LIST, {"last": 5, "first": None})
    page = last["communities"]
    assert [e["node"]["slug"] for e in page["edges"]] == everything[-5:]
    assert page["pageInfo"]["hasPreviousPage"] is True
    before = await api.data(LIST, {"last": 5, "before": page["pageInfo"]["startCursor"]})
    assert [e["node"]["slug"] for e in before["communities"]["edges"]] == everything[-10:-5]
    assert before["communities"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [("MEMBER_COUNT_DESC", "memberCount", True), ("FOUNDED_YEAR", "foundedYear", False)],
)
async def test_sorts_order_by_their_key(
    api: GraphQLClient, sort: str, key: str, reverse: bool
) -> None:
    nodes = await _nodes(api, sort=sort)
    values = [n[key] for n in nodes if n[key] is not None]
    assert values == sorted(values, reverse=reverse)
    paged = await api.data(LIST, {"first": 10, "sort": sort})
    cursor = paged["communities"]["pageInfo"]["endCursor"]
    rest = await api.data(LIST, {"first": 100, "sort": sort, "after": cursor})
    slugs = [e["node"]["slug"] for e in paged["communities"]["edges"]] + [
        e["node"]["slug"] for e in rest["communities"]["edges"]
    ]
    assert slugs == [n["slug"] for n in nodes]


async def test_community_by_id_slug_and_node(api: GraphQLClient) -> None:
    by_slug = await api.data('{ community(slug: "skolkovo-innovation-center") { id slug name } }')
    community = by_slug["community"]
    assert community["name"] == "Сколково"
    by_id = await api.data(
        """query($id: ID!) { community(id: $id) { slug }
                             node(id: $id) { id ... on Community { slug } } }""",
        {"id": community["id"]},
    )
    assert by_id["community"]["slug"] == "skolkovo-innovation-center"
    assert by_id["node"] == {"id": community["id"], "slug": "skolkovo-innovation-center"}
    missing = await api.data('{ community(slug: "no-such-community") { id } }')
    assert missing["community"] is None


async def test_every_stored_field_is_exposed(api: GraphQLClient) -> None:
    query = """{ community(slug: "skolkovo-innovation-center") {
        id slug name description aliases kind form formality industries countries region city
        location { lat lon } website channels { type url label } foundedYear memberCount offers
        tags status createdAt updatedAt identifiers { scheme value }
        names { ru en } descriptions { ru en }
        sources { sourceId externalId url fetchedAt }
        parent { slug } memberOf { slug } partners { slug } members(first: 3) { totalCount }
    } }"""
    node = (await api.data(query))["community"]
    assert node["names"]["en"] == "Skolkovo Innovation Center"
    assert node["location"]["lat"] == pytest.approx(55.7, abs=0.1)
    assert node["sources"] == [
        {
            "sourceId": "demo",
            "externalId": "skolkovo",
            "url": None,
            "fetchedAt": node["sources"][0]["fetchedAt"],
        }
    ]
    assert {"scheme": "inn", "value": "7701637810"} in node["identifiers"]
    assert node["partners"]
    assert node["members"]["totalCount"] >= 1
    assert node["createdAt"].endswith("+00:00")


async def test_localized_name_follows_accept_language_and_argument(api: GraphQLClient) -> None:
    query = '{ community(slug: "skolkovo-innovation-center") { name en: name(lang: EN) } }'
    english = await api.query(query, **{"Accept-Language": "en-US,en;q=0.9,ru;q=0.5"})
    assert english["data"]["community"]["name"] == "Skolkovo Innovation Center"
    russian = await api.query(query, **{"Accept-Language": "ru-RU"})
    assert russian["data"]["community"] == {"name": "Сколково", "en": "Skolkovo Innovation Center"}


async def test_member_relations_point_both_ways(api: GraphQLClient) -> None:
    query = """{ community(slug: "russian-medical-association") {
        members(first: 50) { totalCount edges { node { slug parent { slug } } } } } }"""
    members = (await api.data(query))["community"]["members"]
    assert members["totalCount"] == len(members["edges"]) > 0
    assert {e["node"]["parent"]["slug"] for e in members["edges"]} == {
        "russian-medical-association"
    }


async def test_a_bad_nested_cursor_fails_only_its_own_field(api: GraphQLClient) -> None:
    body = await api.query(
        """{ communities(first: 3) { edges { node { slug
             ok: events(first: 1) { totalCount }
           } } }
           community(slug: "skolkovo-innovation-center") { events(after: "!!") { totalCount } } }"""
    )
    assert body["errors"][0]["message"] == "'after' is not a valid cursor"
    assert body["errors"][0]["path"] == ["community", "events"]
    assert len(body["data"]["communities"]["edges"]) == 3
