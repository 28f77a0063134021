"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

APQ, as Apollo Client's persisted-query link speaks it: a request carries
`extensions.persistedQuery = {"version": 1, "sha256Hash": <hex SHA-256 of the
document>}` and, the first time, no document. An unknown hash is answered `200` with
one error, `PersistedQueryNotFound` (`extensions.code = PERSISTED_QUERY_NOT_FOUND`),
and the client sends the hash again with the whole document, which registers it
here (bounded, least recently used out first). Queries may then be sent as GET with
the hash and variables in the URL, so HTTP caches can keep them.

Trusted documents: an operator loads a manifest of allowed operations
(`GUILDGRAPH_PERSISTED_QUERIES`: a JSON object `{"<sha256>": "<document>"}`, or an
Apollo persisted-query manifest), validated at start. With `GUILDGRAPH_PERSISTED_ONLY`
only those are run: by hash, or as the same document in full; anything else gets
`400` with `PERSISTED_QUERY_NOT_IN_LIST`, and APQ registration is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema, parse, validate

from service.api.http_caching import NO_STORE
from service.api.http_errors import RequestError
from service.settings import ConfigurationError, Settings

# Registered APQ documents kept per process, in bytes of document text.
APQ_MAX_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"


@dataclass(frozen=True)
class Document:
    """The document a request runs, with its SHA-256 (hex)."""

    query: str
    sha256: str


def sha256_of(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted_query_not_found() -> RequestError:
    # 200, as Apollo Server answers it: Apollo Client then retries with the document
    # (a 400 would make older clients stop sending hashes altogether).
    return RequestError(200, "PersistedQueryNotFound", {"Cache-Control": NO_STORE}, code=NOT_FOUND)


def _not_in_list(why: str) -> RequestError:
    return RequestError(
        400, f"only trusted documents are accepted here (GUILDGRAPH_PERSISTED_ONLY): {why}",
        code=NOT_IN_LIST,
    )  # fmt: skip


class PersistedQueries:
    def __init__(self, manifest: Mapping[str, str], *, persisted_only: bool = False) -> None:
        self.manifest = dict(manifest)
        self.persisted_only = persisted_only
        self._registered: OrderedDict[str, str] = OrderedDict()
        self._registered_bytes = 0

    @classmethod
    def from_settings(cls, settings: Settings, schema: GraphQLSchema) -> PersistedQueries:
        manifest: dict[str, str] = {}
        if settings.persisted_queries is not None:
            manifest = load_manifest(settings.persisted_queries, schema)
        elif settings.persisted_only:
            raise ConfigurationError(
                "GUILDGRAPH_PERSISTED_ONLY needs GUILDGRAPH_PERSISTED_QUERIES: "
                "the manifest of the documents to accept"
            )
        return cls(manifest, persisted_only=settings.persisted_only)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> Document | None:
        """The document to run; None when the request names none. Raises RequestError:
        400 for a malformed or refused request, 200 PersistedQueryNotFound for an
        unknown hash."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if query is None:
                return None
            sha256 = sha256_of(query)
            if self.persisted_only and sha256 not in self.manifest:
                raise _not_in_list(f"the document with SHA-256 {sha256} is not in the list")
            return Document(query, sha256)
        sha256 = _hash_of(persisted)
        if query is None:
            known = self.manifest.get(sha256) or self._lookup(sha256)
            if known is not None:
                return Document(known, sha256)
            if self.persisted_only:
                raise _not_in_list(f"no trusted document has SHA-256 {sha256}")
            raise persisted_query_not_found()
        if sha256_of(query) != sha256:
            raise RequestError(
                400, "provided sha does not match query", code="PERSISTED_QUERY_HASH_MISMATCH"
            )
        if sha256 not in self.manifest:
            if self.persisted_only:
                raise _not_in_list("registering documents (APQ) is turned off")
            self._register(sha256, query)
        return Document(query, sha256)

    def _lookup(self, sha256: str) -> str | None:
        query = self._registered.get(sha256)
        if query is not None:
            self._registered.move_to_end(sha256)
        return query

    def _register(self, sha256: str, query: str) -> None:
        if sha256 in self._registered:
            self._registered.move_to_end(sha256)
            return
        self._registered[sha256] = query
        self._registered_bytes += len(query)
        while self._registered_bytes > APQ_MAX_BYTES:
            _, dropped = self._registered.popitem(last=False)
            self._registered_bytes -= len(dropped)


def _hash_of(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise RequestError(400, "'extensions.persistedQuery' must be a JSON object")
    if persisted.get("version") != 1:
        raise RequestError(
            400, "unsupported persisted query version; only version 1 is supported"
        )  # fmt: skip
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise RequestError(
            400, "'extensions.persistedQuery.sha256Hash' must be a SHA-256 in lowercase hex"
        )
    return sha256


def load_manifest(path: Path, schema: GraphQLSchema) -> dict[str, str]:
    """The trusted documents in `path`, each checked: its hash, its syntax, and that it
    is valid against the schema. Raises ConfigurationError naming the entry at fault."""
    where = f"GUILDGRAPH_PERSISTED_QUERIES ({path})"
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise ConfigurationError(f"{where}: cannot be read as JSON: {error}") from None
    entries = _entries(raw, where)
    manifest: dict[str, str] = {}
    for sha256, document in entries:
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise ConfigurationError(f"{where}: {sha256!r} is not a SHA-256 in lowercase hex")
        if not isinstance(document, str):
            raise ConfigurationError(f"{where}: the document of {sha256} is not a string")
        if sha256_of(document) != sha256:
            raise ConfigurationError(
                f"{where}: {sha256} is not the SHA-256 of its document ({sha256_of(document)})"
            )
        try:
            errors = validate(schema, parse(document))
        except GraphQLError as error:
            errors = [error]
        if errors:
            raise ConfigurationError(f"{where}: the document {sha256} is invalid: {errors[0]}")
        manifest[sha256] = document
    return manifest


def _entries(raw: Any, where: str) -> list[tuple[Any, Any]]:
    """(hash, document) pairs of a plain object, or of an Apollo persisted-query
    manifest (`{"format": "apollo-persisted-query-manifest", "operations": [...]}`)."""
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ConfigurationError(f"{where}: 'operations' must be a list of objects")
        return [(o.get("id"), o.get("body")) for o in operations]
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: expected a JSON object of SHA-256 -> document")
    return list(raw.items())
