"""Search ranks across languages and word forms, without $text."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient

SEARCH = """
query($q: String!) {
  communities(search: $q, first: 5) { totalCount edges { node { slug name(lang: RU) } } }
}
"""


async def _top(api: GraphQLClient, text: str) -> list[str]:
    data = await api.data(SEARCH, {"q": text})
    return [edge["node"]["name"] for edge in data["communities"]["edges"]]


@pytest.mark.parametrize("text", ["сколково", "Skolkovo", "сколковского", "СКОЛКОВО"])
async def test_skolkovo_is_found_in_any_script_and_word_form(api: GraphQLClient, text: str) -> None:
    assert (await _top(api, text))[0] == "Сколково"


async def test_phrase_in_an_inflected_form_ranks_the_named_association_first(
    api: GraphQLClient,
) -> None:
    assert (await _top(api, "финансовых рынков"))[0] == "Ассоциация развития финансовых рынков"


@pytest.mark.parametrize("text", ["fintech", "ФинТех", "финтеха"])
async def test_fintech_finds_the_association_with_a_russian_name(
    api: GraphQLClient, text: str
) -> None:
    assert "Ассоциация ФинТех" in (await _top(api, text))[:2]


async def test_search_combines_with_filters(api: GraphQLClient) -> None:
    data = await api.data(
        """{ communities(search: "медицинская", filter: {forms: [CLUSTER]}, first: 10) {
            edges { node { form } } } }"""
    )
    edges = data["communities"]["edges"]
    assert edges
    assert {e["node"]["form"] for e in edges} == {"CLUSTER"}


async def test_unknown_words_find_nothing(api: GraphQLClient) -> None:
    data = await api.data(SEARCH, {"q": "зззщщщ qqqxxx"})
    assert data["communities"] == {"totalCount": 0, "edges": []}


async def test_ranked_results_paginate_without_repeats(api: GraphQLClient) -> None:
    query = """query($after: String) { communities(search: "ассоциация", first: 3, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { slug } } } }"""
    seen: list[str] = []
    after = None
    for _ in range(50):
        page = (await api.data(query, {"after": after}))["communities"]
        seen += [e["node"]["slug"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] > 3


async def test_events_and_standards_are_searchable(api: GraphQLClient) -> None:
    data = await api.data(
        """{ standards(search: "GOST R 1.0-2012", first: 3) { edges { node { code } } }
             events(search: "хакатон", filter: {from: "2000-01-01T00:00:00Z"}, first: 3) {
               edges { node { format } } } }"""
    )
    assert data["standards"]["edges"][0]["node"]["code"] == "ГОСТ Р 1.0-2012"
    assert data["events"]["edges"]
