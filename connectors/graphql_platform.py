"""GraphQL platforms (Meetup-style): page through a Relay connection of groups.

    {"url": "https://api.meetup.com/gql-ext",
     "query": "query ($first: Int, $after: String) { groupSearch(... after: $after) {
                 pageInfo { hasNextPage endCursor }
                 edges { node { id name ... upcomingEvents { edges { node { ... } } } } } } }",
     "variables": {"first": 50},
     "connection_path": "groupSearch",                # dotted path inside `data`
     "mapping": {...},                                # each node -> a Listing
     "children": {"path": "upcomingEvents",           # optional, relative to a node
                  "mapping": {...},                   # each child -> a Listing
                  "parent_field": "organizers"}}      # gets the node's external id

The connector owns `$after`: the query must declare it as a nullable String, and it
is sent as null on the first page, then as each page's `pageInfo.endCursor`. A
Checkpoint {"after": cursor} follows every page; the last is {} so the next run
starts over. Only the first page of children is read (ask for enough of them).

Errors: a GraphQL `errors` list in a 200 response is fatal, partial `data` or not (a
partial page would silently lose records), unless an error says the client is rate
limited (extensions.code RATE_LIMITED/THROTTLED/TOO_MANY_REQUESTS, or a message
saying so): that is Retriable, with the source's retryAfter/resetAt as the hint.
The same endCursor twice is a pagination loop: fatal, before the repeated page is
emitted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from connectors.framework.contract import Checkpoint, Emitted, Fetcher, Mapped, Rejected, State
from connectors.framework.errors import FatalError, RetriableError
from connectors.framework.mapping import FieldMapping, MappedStream, apply, map_record
from connectors.framework.pagination import LoopGuard
from schema.models import Listing
from schema.taxonomy import EntityType

logger = logging.getLogger("guildgraph.connectors.graphql")

_COMMENT = re.compile(r"#[^\n\r]*")
_AFTER = re.compile(r"\$after\s*:\s*String\b(\s*!)?")
_WRITES = re.compile(r"(^|\})\s*(mutation|subscription)\b")
_RATE_CODES = {"RATE_LIMITED", "THROTTLED", "TOO_MANY_REQUESTS"}
_RATE_WORDS = re.compile(r"rate.?limit|too many requests|throttl", re.IGNORECASE)
# The list fields through which a child can point at its parent node, per entity.
PARENT_FIELDS: dict[EntityType, frozenset[str]] = {
    EntityType.EVENT: frozenset({"organizers"}),
    EntityType.COMMUNITY: frozenset({"member_of", "partners"}),
    EntityType.STANDARD: frozenset({"adopters"}),
}
_MISSING: Any = object()
# How a refused child is kept: its record and its parent node's external id.
_CHILD_OF, _RECORD = "child_of", "record"


class ChildNodes(BaseModel):
    """Entities nested in each node (a group's upcoming events)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="connection or list, relative to a node")
    mapping: FieldMapping
    parent_field: str | None = Field(
        default="organizers", description="the child's list field that gets the node's id"
    )

    @field_validator("parent_field")
    @classmethod
    def _parent_field_fits(cls, value: str | None, info: ValidationInfo) -> str | None:
        mapping = info.data.get("mapping")
        if value is None or not isinstance(mapping, FieldMapping):
            return value
        allowed = PARENT_FIELDS[mapping.entity]
        if value not in allowed:
            raise ValueError(
                f"a {mapping.entity.value} child links to its parent through "
                f"{' or '.join(sorted(allowed))}, not {value!r}"
            )
        return value


class GraphQLPlatformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://", description="the GraphQL endpoint")
    query: str = Field(min_length=1, description="a query declaring `$after: String`")
    variables: dict[str, Any] = Field(
        default_factory=dict, description="the query's variables but `after`"
    )
    connection_path: str = Field(min_length=1, description="dotted path inside `data`")
    mapping: FieldMapping = Field(description="each node -> a listing")
    children: ChildNodes | None = Field(
        default=None, description="entities nested in each node (a group's events)"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="e.g. Authorization; kept secret"
    )
    max_pages: int = Field(default=1000, ge=1, description="a bound on one run's walk")

    @field_validator("query")
    @classmethod
    def _pageable_read(cls, value: str) -> str:
        document = _COMMENT.sub("", value)
        if _WRITES.search(document):
            raise ValueError("must be a query; a sync never sends mutations or subscriptions")
        declared = _AFTER.search(document)
        if declared is None:
            raise ValueError("must declare the variable `$after: String` (the page cursor)")
        if declared.group(1):
            raise ValueError("`$after` must be nullable (`String`, not `String!`)")
        return value

    @field_validator("variables")
    @classmethod
    def _after_is_ours(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "after" in value:
            raise ValueError("'after' is set by the connector from the page cursor")
        return value


class GraphQLStream(MappedStream):
    """The connection's nodes (and their children), page by page."""

    def __init__(self, source_id: str, config: GraphQLPlatformConfig, fetcher: Fetcher) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self.name = "graphql"
        self.mapping = config.mapping

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        guard = LoopGuard()
        after = _resumed_cursor(state)
        if after is not None:
            guard.token(after, "endCursor")
        truncated = 0
        for page in range(1, self._config.max_pages + 1):
            connection = await self._connection(after)
            nodes = _nodes(connection, self._config.connection_path)
            has_next, end = _page_info(connection, self._config.connection_path)
            if has_next:
                # Before yielding: a repeated page raises here, so nothing is emitted twice.
                guard.token(end, "endCursor")
            for index, node in enumerate(nodes):
                where = f"page {page} node {index}"
                mapped = self._node(node, where)
                for item in mapped:
                    yield item
                parent = mapped[-1]
                if self._config.children is not None and isinstance(node, Mapping):
                    # A refused parent too: its children wait for it to be fixed.
                    parent_id = (
                        parent.external_id if isinstance(parent, Listing | Rejected) else None
                    )
                    for child in self._children(node, self._config.children, parent_id, where):
                        yield child
                    truncated += _more_children(node, self._config.children.path)
            if not has_next:
                if truncated:
                    logger.warning("graphql: %d nodes had more children than one page", truncated)
                yield Checkpoint({})
                return
            after = end
            yield Checkpoint({"after": end})
        raise FatalError(f"more than {self._config.max_pages} pages (max_pages); stopped")

    async def _connection(self, after: str | None) -> Any:
        config = self._config
        fetched = await self._fetcher.post_json(
            config.url,
            {"query": config.query, "variables": {**config.variables, "after": after}},
            headers={k: v.get_secret_value() for k, v in config.headers.items()},
        )
        try:
            document = orjson.loads(fetched.body)
        except orjson.JSONDecodeError as error:
            raise FatalError(f"{config.url}: the response is not JSON ({error})") from None
        if not isinstance(document, Mapping):
            raise FatalError(f"{config.url}: the response is not a GraphQL result object")
        _raise_for_errors(document.get("errors"))
        data = document.get("data")
        if not isinstance(data, Mapping):
            raise FatalError(f"{config.url}: the response has no `data`")
        connection = _at(data, config.connection_path)
        if connection is _MISSING or connection is None:
            raise FatalError(f"connection_path {config.connection_path!r} is not in the data")
        return connection

    def _node(self, node: Any, where: str) -> list[Mapped]:
        if not isinstance(node, Mapping):
            return [Rejected(f"{where}: a node is not an object", raw=node)]
        return map_record(self._config.mapping, self._source_id, node, where=where)

    def _children(
        self, node: Mapping[str, Any], rule: ChildNodes, parent_id: str | None, where: str
    ) -> Iterator[Mapped]:
        found = _at(node, rule.path)
        if found is _MISSING:
            # The query does not select it: a configuration error, not "no children".
            raise FatalError(f"children.path {rule.path!r} is not in the nodes; is it queried?")
        if found is None:
            return
        for index, child in enumerate(_nodes(found, f"{where} {rule.path}")):
            child_where = f"{where} {rule.path} {index}"
            if not isinstance(child, Mapping):
                yield Rejected(f"{child_where}: a child is not an object", raw=child)
                continue
            yield from self._child(child, rule, parent_id, child_where)

    def _child(
        self, child: Mapping[str, Any], rule: ChildNodes, parent_id: str | None, where: str = ""
    ) -> list[Mapped]:
        applied = apply(rule.mapping, child)
        payload = applied.payload
        if parent_id is not None and rule.parent_field is not None:
            linked = payload.get(rule.parent_field)
            linked = linked if isinstance(linked, list) else [] if linked is None else [linked]
            payload[rule.parent_field] = list(dict.fromkeys([*linked, parent_id]))
        items = map_record(rule.mapping, self._source_id, child, applied=applied, where=where)
        # A refused child keeps its parent's id, so that mapping it again links it.
        kept = {_CHILD_OF: parent_id, _RECORD: dict(child)}
        return [replace(i, raw=kept) if isinstance(i, Rejected) else i for i in items]

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A node or child kept unmapped, mapped with today's mappings."""
        if not isinstance(raw, Mapping):
            return None
        rule = self._config.children
        if rule is not None and set(raw) == {_CHILD_OF, _RECORD}:
            child, parent = raw[_RECORD], raw[_CHILD_OF]
            if rule.mapping.entity is not entity or not isinstance(child, Mapping):
                return None
            return self._child(child, rule, parent if isinstance(parent, str) else None)
        if self._config.mapping.entity is not entity:
            return None
        return self._node(raw, "")


class GraphQLPlatformConnector:
    """The connector: one GraphQL connection (with nested children) of one platform."""

    def __init__(self, source_id: str, config: GraphQLPlatformConfig, fetcher: Fetcher) -> None:
        self._stream = GraphQLStream(source_id, config, fetcher)

    def streams(self) -> Sequence[GraphQLStream]:
        return [self._stream]


def _resumed_cursor(state: State | None) -> str | None:
    after = (state or {}).get("after")
    if after is not None and (not isinstance(after, str) or not after):
        raise FatalError(f"checkpointed state {dict(state or {})!r}: 'after' must be a string")
    return after


def _at(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; _MISSING when a key is absent (null is a value)."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _nodes(connection: Any, where: str) -> list[Any]:
    """A connection's nodes: `edges[].node`, `nodes[]`, or a plain list."""
    if isinstance(connection, list):
        return connection
    if isinstance(connection, Mapping):
        edges = connection.get("edges")
        if isinstance(edges, list):
            return [edge.get("node") if isinstance(edge, Mapping) else None for edge in edges]
        nodes = connection.get("nodes")
        if isinstance(nodes, list):
            return nodes
    raise FatalError(f"{where}: not a connection with `edges {{ node }}` or `nodes`")


def _page_info(connection: Any, where: str) -> tuple[bool, str]:
    info = connection.get("pageInfo") if isinstance(connection, Mapping) else None
    if not isinstance(info, Mapping):
        raise FatalError(f"{where}: no `pageInfo {{ hasNextPage endCursor }}` in the response")
    has_next, end = info.get("hasNextPage"), info.get("endCursor")
    if has_next is not True:
        return False, ""
    if not isinstance(end, str) or not end:
        raise FatalError(f"{where}: hasNextPage is true but there is no endCursor")
    return True, end


def _more_children(node: Mapping[str, Any], path: str) -> int:
    found = _at(node, path)
    info = found.get("pageInfo") if isinstance(found, Mapping) else None
    return int(isinstance(info, Mapping) and info.get("hasNextPage") is True)


def _raise_for_errors(errors: Any) -> None:
    if not errors:
        return
    listed = errors if isinstance(errors, list) else [errors]
    messages = [_message(error) for error in listed]
    for error in listed:
        if _rate_limited(error):
            raise RetriableError(
                f"the GraphQL API is rate limiting: {_message(error)}",
                retry_after=_retry_after(error),
            )
    more = f" (and {len(messages) - 3} more)" if len(messages) > 3 else ""
    raise FatalError("the GraphQL API answered with errors: " + "; ".join(messages[:3]) + more)


def _message(error: Any) -> str:
    message = error.get("message") if isinstance(error, Mapping) else None
    if isinstance(message, str):
        path = error.get("path")
        where = ".".join(map(str, path)) + ": " if isinstance(path, list) and path else ""
        return where + message[:500]
    return repr(error)[:500]


def _extensions(error: Any) -> Mapping[str, Any]:
    found = error.get("extensions") if isinstance(error, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _rate_limited(error: Any) -> bool:
    extensions = _extensions(error)
    codes = {str(extensions.get("code", "")).upper()}
    if isinstance(error, Mapping):
        codes.add(str(error.get("type", "")).upper())  # GitHub puts it here
    return bool(codes & _RATE_CODES) or bool(_RATE_WORDS.search(_message(error)))


def _retry_after(error: Any) -> float | None:
    extensions = _extensions(error)
    for key in ("retryAfter", "retry_after"):
        value = extensions.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    reset = extensions.get("resetAt")
    if isinstance(reset, str):
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    return None
