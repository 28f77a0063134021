"""Standards: filters, lookup by normalized code, issuer and adopters both ways."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient


async def test_filter_by_kind_and_status(api: GraphQLClient) -> None:
    data = await api.data(
        """{ ethical: standards(filter: {kinds: [ETHICAL]}, first: 50) {
               totalCount edges { node { kind } } }
             drafts: standards(filter: {statuses: [DRAFT]}, first: 50) {
               edges { node { status } } } }"""
    )
    assert data["ethical"]["totalCount"] > 0
    assert {e["node"]["kind"] for e in data["ethical"]["edges"]} == {"ETHICAL"}
    assert {e["node"]["status"] for e in data["drafts"]["edges"]} == {"DRAFT"}


@pytest.mark.parametrize("code", ["ГОСТ Р 1.0-2012", "GOST R 1.0-2012", "гост р 1.0 2012"])
async def test_standard_by_code_in_either_script(api: GraphQLClient, code: str) -> None:
    data = await api.data(
        """query($code: String!) {
             standard(code: $code) { code issuer { slug } adoptedBy { slug } } }""",
        {"code": code},
    )
    standard = data["standard"]
    assert standard["code"] == "ГОСТ Р 1.0-2012"
    assert standard["issuer"] is not None


async def test_issuer_and_adopters_match_community_standards_roles(api: GraphQLClient) -> None:
    data = await api.data(
        """{ standards(first: 100) { edges { node { id code
              issuer { slug } adoptedBy { slug } } } } }"""
    )
    standard = next(e["node"] for e in data["standards"]["edges"] if e["node"]["adoptedBy"])
    issuer = standard["issuer"]["slug"]
    adopter = standard["adoptedBy"][0]["slug"]
    query = """query($slug: String!) { community(slug: $slug) {
        issued: standards(role: ISSUED, first: 100) { edges { node { id } } }
        adopted: standards(role: ADOPTED, first: 100) { edges { node { id } } }
        any: standards(first: 100) { totalCount edges { node { id } } } } }"""
    by_issuer = (await api.data(query, {"slug": issuer}))["community"]
    by_adopter = (await api.data(query, {"slug": adopter}))["community"]
    assert standard["id"] in {e["node"]["id"] for e in by_issuer["issued"]["edges"]}
    assert standard["id"] in {e["node"]["id"] for e in by_adopter["adopted"]["edges"]}
    any_ids = {e["node"]["id"] for e in by_issuer["any"]["edges"]}
    issued_ids = {e["node"]["id"] for e in by_issuer["issued"]["edges"]}
    adopted_ids = {e["node"]["id"] for e in by_issuer["adopted"]["edges"]}
    assert any_ids == issued_ids | adopted_ids
    assert by_issuer["any"]["totalCount"] == len(any_ids)


async def test_filter_by_issuer_and_kinds_on_community(api: GraphQLClient) -> None:
    data = await api.data('{ standard(code: "ISO 9001:2015") { kind issuer { id } } }')
    standard = data["standard"]
    issued = await api.data(
        """query($issuer: ID!) { standards(filter: {issuer: $issuer}, first: 100) {
            edges { node { issuer { id } } } } }""",
        {"issuer": standard["issuer"]["id"]},
    )
    edges = issued["standards"]["edges"]
    assert edges
    assert {e["node"]["issuer"]["id"] for e in edges} == {standard["issuer"]["id"]}
