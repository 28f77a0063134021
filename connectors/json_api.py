"""JSON API registries: page through an endpoint, map each record to a Listing.

    {"url": "https://registry.example/api/associations",
     "records_path": "data.items",            # the list of records (or one object)
     "pagination": {"type": "cursor", "cursor_path": "meta.next", "param": "after"},
     "page_size": 100,
     "params": {"status": "active"},
     "mapping": {...}}                       # connectors.framework.mapping.FieldMapping

The URL may be a file:// URL of a local source (one document, no pagination), read
under the allowed roots like every kind's local files.

A Checkpoint follows every page with the paginator's state (where the next request
starts), so a resumed run reads no page twice; the last one is {} and the next run
starts over. A body that is not JSON is fatal; a record that cannot be mapped is
Rejected and the run goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.framework.contract import Checkpoint, Emitted, Fetcher, Mapped, State
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.framework.mapping import FieldMapping, MappedStream, external_id, map_record
from connectors.framework.pagination import (
    CursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePage,
)
from connectors.framework.urls import source_url
from schema.taxonomy import EntityType


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PagePagination(_Config):
    type: Literal["page"]
    param: str = "page"
    start: int = Field(default=1, ge=0)
    size_param: str | None = "per_page"


class OffsetPagination(_Config):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"


class CursorPagination(_Config):
    type: Literal["cursor"]
    cursor_path: str = Field(min_length=1, description="dotted path of the next cursor")
    param: str = "cursor"
    size_param: str | None = None


class NoPagination(_Config):
    type: Literal["none"] = "none"


Pagination = Annotated[
    PagePagination | OffsetPagination | CursorPagination | NoPagination,
    Field(discriminator="type"),
]


class JsonApiConfig(_Config):
    url: str = Field(description="the endpoint: http(s), or file:// for one local document")
    records_path: str = Field(
        default="", description="dotted path to the records; empty: the whole document"
    )
    pagination: Pagination = Field(
        default=NoPagination(), description="type page, offset, cursor or none"
    )
    page_size: int = Field(default=100, ge=1, le=10_000)
    params: dict[str, str] = Field(default_factory=dict, description="extra query parameters")
    total_path: str | None = Field(
        default=None, description="dotted path to the total record count, if the API gives one"
    )
    mapping: FieldMapping = Field(description="record paths -> fields (docs/sources.md)")
    stream: str = Field(
        default="records", min_length=1, max_length=60, description="the stream's name"
    )

    _url = field_validator("url")(source_url)

    @model_validator(mode="after")
    def _a_file_is_one_page(self) -> JsonApiConfig:
        if urlsplit(self.url).scheme == "file":
            if not isinstance(self.pagination, NoPagination) or self.params:
                raise ValueError(
                    "pagination: a local file is one document; give no pagination or params"
                )
        return self

    def paginator(self) -> Paginator:
        p = self.pagination
        if isinstance(p, PagePagination):
            return PageNumberPaginator(
                param=p.param, start=p.start, size_param=p.size_param, page_size=self.page_size
            )
        if isinstance(p, OffsetPagination):
            return OffsetPaginator(
                offset_param=p.offset_param, limit_param=p.limit_param, page_size=self.page_size
            )
        if isinstance(p, CursorPagination):
            return CursorPaginator(
                cursor_path=p.cursor_path,
                param=p.param,
                size_param=p.size_param,
                page_size=self.page_size,
            )
        return SinglePage()


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query string (ours win over same-named ones)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


_MISSING: Any = object()


def _total(document: Any, path: str | None) -> int | None:
    """The record count the API announces; anything but a whole number is ignored."""
    if path is None:
        return None
    value = _walk(document, path)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _walk(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def records_in(document: Any, path: str, url: str, *, first_page: bool) -> list[Any]:
    """The records of one response: a list, or a single object as one record."""
    found = _walk(document, path) if path else document
    if found is _MISSING:
        if first_page:
            # On the first page this is a wrong records_path, not the end of the data.
            raise FatalError(f"{url}: the response has nothing at records_path {path!r}")
        return []
    if found is None:
        return []
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        return [found]
    raise FatalError(
        f"{url}: records_path {path or '(document)'!r} holds a {type(found).__name__}, "
        "not a list or an object"
    )


def _record_id(mapping: FieldMapping, record: Any) -> str:
    if isinstance(record, Mapping):
        try:
            return external_id(mapping, record)
        except SkippableRecord:
            pass
    # No usable id: the record's content stands in for it in loop detection.
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)
    return "#" + hashlib.sha256(canonical).hexdigest()[:16]


class JsonApiStream(MappedStream):
    def __init__(self, source_id: str, config: JsonApiConfig, fetcher: Fetcher) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self.name = config.stream
        self.mapping = config.mapping

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        config = self._config
        paginator = config.paginator()
        params: dict[str, str] | None = paginator.start(state)
        # From the start, a first page without records_path means a wrong path; a
        # resumed run may begin past the end, where some APIs drop the key.
        first_page = not state
        while params is not None:
            url = with_query(config.url, {**config.params, **params})
            fetched = await self._fetcher.get(url)
            document = _parse(fetched.body, url)
            records = records_in(document, config.records_path, url, first_page=first_page)
            ids = [_record_id(config.mapping, record) for record in records]
            # Before yielding: a looping page raises here and none of it is emitted twice.
            params = paginator.next_params(document, ids)
            for index, record in enumerate(records):
                for item in map_record(
                    config.mapping,
                    self._source_id,
                    record,
                    read_from=fetched.url,
                    where=f"{url} record {index}",
                ):
                    yield item
            yield Checkpoint(paginator.state, estimated_total=_total(document, config.total_path))
            first_page = False

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A record kept unmapped, mapped with today's mapping."""
        if entity is not self.mapping.entity or not isinstance(raw, dict) or set(raw) == {"raw"}:
            return None  # {"raw": value}: a record that was not an object
        return map_record(self.mapping, self._source_id, raw)


def _parse(body: bytes, url: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise FatalError(f"{url}: the response is not JSON ({error})") from None


class JsonApiConnector:
    def __init__(self, source_id: str, config: JsonApiConfig, fetcher: Fetcher) -> None:
        self._stream = JsonApiStream(source_id, config, fetcher)

    def streams(self) -> Sequence[JsonApiStream]:
        return [self._stream]
