"""Persisted queries: Apollo's APQ exactly as Apollo Client sends it, and trusted
documents (a manifest, and persisted-only mode)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from schema.root import build_schema
from service.api.persisted_queries import PersistedQueries, load_manifest
from service.settings import ConfigurationError
from service.storage.collections import Database
from tests.conftest import client_for, settings_for

# What Apollo Client sends: its `print` of the document, hashed with SHA-256.
QUERY = """query CommunityBySlug($slug: String!) {
  community(slug: $slug) {
    slug
    name
  }
}"""
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
VARIABLES = {"slug": "skolkovo-innovation-center"}
# Apollo Client 3.8+ asks for the GraphQL-over-HTTP media type first.
APOLLO_HEADERS = {
    "accept": "application/graphql-response+json,application/json;q=0.9",
}


def apollo_get_url(operation_name: str, variables: dict[str, Any], sha256: str) -> str:
    """The URL Apollo Client's HttpLink builds for a hashed query with
    `useGETForHashedQueries` (rewriteURIForGET): each parameter JSON-encoded, then
    `encodeURIComponent`-ed, without the document."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    parts = [
        f"operationName={quote(operation_name, safe='')}",
        f"variables={quote(json.dumps(variables, separators=(',', ':')), safe='')}",
        f"extensions={quote(json.dumps(extensions, separators=(',', ':')), safe='')}",
    ]
    return "/graphql?" + "&".join(parts)


async def test_apq_as_apollo_client_sends_it(demo_http: httpx.AsyncClient) -> None:
    url = apollo_get_url("CommunityBySlug", VARIABLES, HASH)
    # 1. The hash alone: the server does not know it yet.
    miss = await demo_http.get(url, headers=APOLLO_HEADERS)
    assert miss.status_code == 200  # a 400 would make Apollo Client 3 stop hashing
    assert miss.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert miss.headers["cache-control"] == "private, no-store"
    # 2. The retry: a POST with the document and the same extensions registers it.
    retry = await demo_http.post(
        "/graphql",
        json={
            "operationName": "CommunityBySlug",
            "variables": VARIABLES,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASH}},
            "query": QUERY,
        },
        headers=APOLLO_HEADERS,
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["data"]["community"]["slug"] == "skolkovo-innovation-center"
    # 3. From now on the hash alone is enough, over GET, which HTTP caches can keep.
    hashed = await demo_http.get(url, headers=APOLLO_HEADERS)
    assert hashed.status_code == 200
    assert hashed.content == retry.content
    assert hashed.headers["content-type"].startswith("application/graphql-response+json")
    assert hashed.headers["cache-control"].startswith("public, max-age=")
    assert hashed.headers["etag"] == retry.headers["etag"]


async def test_a_hash_that_is_not_the_documents_is_refused(demo_http: httpx.AsyncClient) -> None:
    response = await demo_http.post(
        "/graphql",
        json={
            "query": "{ industries { code } }",
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASH}},
        },
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["message"] == "provided sha does not match query"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


@pytest.mark.parametrize(
    ("persisted", "message"),
    [
        ({"version": 2, "sha256Hash": HASH}, "unsupported persisted query version"),
        ({"version": 1, "sha256Hash": "ABC"}, "must be a SHA-256 in lowercase hex"),
        ("nope", "must be a JSON object"),
    ],
)
async def test_a_malformed_persisted_query_is_a_400(
    demo_http: httpx.AsyncClient, persisted: Any, message: str
) -> None:
    response = await demo_http.post("/graphql", json={"extensions": {"persistedQuery": persisted}})
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


async def test_a_hashed_mutation_over_get_stays_405(demo_http: httpx.AsyncClient) -> None:
    mutation = 'mutation { revokeApiKey(id: "x") { __typename } }'
    sha256 = hashlib.sha256(mutation.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    registered = await demo_http.post(
        "/graphql", json={"query": mutation, "extensions": extensions}
    )
    assert registered.headers["cache-control"] == "private, no-store"
    response = await demo_http.get("/graphql", params={"extensions": json.dumps(extensions)})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# --- trusted documents -----------------------------------------------------------------

TRUSTED = "query Vocabulary { industries { code } }"
TRUSTED_HASH = hashlib.sha256(TRUSTED.encode()).hexdigest()


def write_manifest(path: Path, documents: dict[str, str]) -> Path:
    path.write_text(json.dumps(documents))
    return path


@pytest.fixture
async def trusted_only(
    mongo_uri: str, demo_db: Database, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    manifest = write_manifest(tmp_path / "manifest.json", {TRUSTED_HASH: TRUSTED})
    settings = settings_for(
        mongo_uri, demo_db.name, persisted_queries=manifest, persisted_only=True
    )
    async for client in client_for(settings):
        yield client


async def test_persisted_only_runs_the_trusted_documents(
    trusted_only: httpx.AsyncClient,
) -> None:
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": TRUSTED_HASH}})
    by_hash = await trusted_only.get("/graphql", params={"extensions": extensions})
    assert by_hash.status_code == 200
    assert by_hash.json()["data"]["industries"]
    in_full = await trusted_only.post("/graphql", json={"query": TRUSTED})
    assert in_full.status_code == 200
    assert in_full.content == by_hash.content


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"query": "{ industries { code nameEn } }"}, "is not in the list"),
        (
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASH}}},
            f"no trusted document has SHA-256 {HASH}",
        ),
        (
            {
                "query": QUERY,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASH}},
            },
            "registering documents (APQ) is turned off",
        ),
    ],
)
async def test_persisted_only_refuses_anything_else_with_a_clear_400(
    trusted_only: httpx.AsyncClient, body: dict[str, Any], why: str
) -> None:
    response = await trusted_only.post("/graphql", json=body)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    assert (
        "only trusted documents are accepted here (GUILDGRAPH_PERSISTED_ONLY)" in (error["message"])
    )
    assert why in error["message"]
    assert response.headers["cache-control"] == "private, no-store"


SCHEMA = build_schema()._schema


def test_a_manifest_in_apollos_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": TRUSTED_HASH, "name": "Vocabulary", "type": "query", "body": TRUSTED}
                ],
            }
        )
    )
    assert load_manifest(path, SCHEMA) == {TRUSTED_HASH: TRUSTED}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "cannot be read as JSON"),
        ('["a list"]', "expected a JSON object of SHA-256 -> document"),
        (json.dumps({"abc": TRUSTED}), "'abc' is not a SHA-256 in lowercase hex"),
        (json.dumps({HASH: TRUSTED}), f"{HASH} is not the SHA-256 of its document"),
        (
            json.dumps({hashlib.sha256(b"{ nope }").hexdigest(): "{ nope }"}),
            "is invalid: Cannot query field 'nope' on type 'Query'.",
        ),
        (
            json.dumps({hashlib.sha256(b"{ nope").hexdigest(): "{ nope"}),
            "is invalid: Syntax Error",
        ),
    ],
)
def test_a_bad_manifest_stops_the_start_naming_the_entry(
    tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="GUILDGRAPH_PERSISTED_QUERIES") as raised:
        load_manifest(path, SCHEMA)
    assert error in str(raised.value)


def test_persisted_only_without_a_manifest_is_a_configuration_error(
    mongo_uri: str, tmp_path: Path
) -> None:
    settings = settings_for(mongo_uri, "unused", persisted_only=True)
    with pytest.raises(ConfigurationError, match="needs GUILDGRAPH_PERSISTED_QUERIES"):
        PersistedQueries.from_settings(settings, SCHEMA)
