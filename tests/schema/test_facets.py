"""Facets: counts that agree with the lists they describe, in the same request."""

from __future__ import annotations

from tests.conftest import GraphQLClient


async def test_community_facets_agree_with_filtered_totals(api: GraphQLClient) -> None:
    data = await api.data(
        """{
          facets(filter: {countries: ["RU"]}) { communities {
            byKind { value count } byForm { value count } byIndustry { value count }
            byCountry { value count } } }
          communities(filter: {countries: ["RU"]}) { totalCount }
          clusters: communities(filter: {countries: ["RU"], forms: [CLUSTER]}) { totalCount }
          it: communities(filter: {countries: ["RU"], industries: ["it"]}) { totalCount }
        }"""
    )
    facets = data["facets"]["communities"]
    total = data["communities"]["totalCount"]
    assert sum(f["count"] for f in facets["byKind"]) == total
    assert sum(f["count"] for f in facets["byForm"]) == total
    by_form = {f["value"]: f["count"] for f in facets["byForm"]}
    assert by_form["CLUSTER"] == data["clusters"]["totalCount"]
    by_industry = {f["value"]: f["count"] for f in facets["byIndustry"]}
    assert by_industry["it"] == data["it"]["totalCount"]
    by_country = {f["value"]: f["count"] for f in facets["byCountry"]}
    assert by_country["RU"] == total
    counts = [f["count"] for f in facets["byForm"]]
    assert counts == sorted(counts, reverse=True)


async def test_event_facets_by_format_mode_and_month(api: GraphQLClient) -> None:
    data = await api.data(
        """{
          facets(eventFilter: {from: "2000-01-01T00:00:00Z"}) { events {
            byFormat { value count } byAttendanceMode { value count } byMonth { value count } } }
          events(filter: {from: "2000-01-01T00:00:00Z"}) { totalCount }
          online: events(filter: {from: "2000-01-01T00:00:00Z", attendanceModes: [ONLINE]}) {
            totalCount }
        }"""
    )
    facets = data["facets"]["events"]
    total = data["events"]["totalCount"]
    assert sum(f["count"] for f in facets["byFormat"]) == total
    assert sum(f["count"] for f in facets["byMonth"]) == total
    modes = {f["value"]: f["count"] for f in facets["byAttendanceMode"]}
    assert modes["ONLINE"] == data["online"]["totalCount"]
    assert set(modes) == {"ONLINE", "OFFLINE", "MIXED"}
    assert all(len(f["value"]) == 7 and f["value"][4] == "-" for f in facets["byMonth"])


async def test_facets_follow_search(api: GraphQLClient) -> None:
    data = await api.data(
        """{ facets(search: "медицинская") { communities { byIndustry { value count } } }
             communities(search: "медицинская") { totalCount } }"""
    )
    by_industry = {f["value"]: f["count"] for f in data["facets"]["communities"]["byIndustry"]}
    assert by_industry["healthcare"] >= 1
    assert max(by_industry.values()) <= data["communities"]["totalCount"]


async def test_groups_selected_through_fragments_are_counted_alone_or_together(
    api: GraphQLClient,
) -> None:
    # Each group is counted only when selected: through a named fragment, an inline
    # fragment or an alias, alone or beside others, it gives the same counts.
    together = await api.data(
        """{ facets(filter: {countries: ["RU"]}) { communities {
               byKind { value count } byIndustry { value count } } } }"""
    )
    apart = await api.data(
        """query { facets(filter: {countries: ["RU"]}) { communities { ...Kinds
                   ... on CommunityFacets { industries: byIndustry { value count } } } } }
           fragment Kinds on CommunityFacets { byKind { value count } }"""
    )
    kinds_only = await api.data(
        """{ facets(filter: {countries: ["RU"]}) { communities { byKind { value count } } } }"""
    )
    assert together["facets"]["communities"]["byKind"]
    assert apart["facets"]["communities"]["byKind"] == together["facets"]["communities"]["byKind"]
    assert (
        apart["facets"]["communities"]["industries"]
        == together["facets"]["communities"]["byIndustry"]
    )
    assert kinds_only == {
        "facets": {"communities": {"byKind": together["facets"]["communities"]["byKind"]}}
    }
