"""Cluster registries: industry clusters as GeoJSON features or as JSON records.

Two shapes are read:

- a GeoJSON FeatureCollection: each feature is one cluster, its Point geometry
  ([lon, lat]) is the location, and the mapping's paths are relative to the
  feature's properties (plus "geometry", and "id" for the feature's own id when
  the properties have none);
- a JSON list of flat, CSV-like records (at `records_path` in the document) with
  latitude/longitude columns; decimal commas ("54,51") are accepted.

Each cluster becomes a community Listing with form "cluster" unless the mapping
says otherwise. Specialisations map to industry codes through the mapping's value
maps; those no value map covers are kept as tags rather than failing the listing.

Member organisations are not references of this source, so they cannot go into
the payload: a member becomes a member-of relation only once the sync engine has
matched it to a known community (by ИНН, website or name). The stream keeps the
members it parsed for each cluster it yielded, and `members_of(external_id)`
returns them (see `MemberHints`).
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.framework.contract import (
    Checkpoint,
    Emitted,
    Fetcher,
    Mapped,
    Rejected,
    State,
)
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.framework.mapping import (
    FieldMapping,
    MappedStream,
    apply,
    external_id,
    lookup,
    map_record,
)
from connectors.framework.urls import source_url
from schema.models import Identifier, Listing
from schema.taxonomy import INDUSTRIES, EntityType, OrganizationForm

_IDENTIFIER_SCHEME = re.compile(r"^[a-z][a-z0-9_]{1,20}$")
_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)+(/\S*)?$")


@dataclass(frozen=True)
class ClusterMember:
    """A member organisation as the registry names it: a hint to match, not an entity."""

    name: str | None
    website: str | None = None
    identifiers: tuple[Identifier, ...] = ()


@runtime_checkable
class MemberHints(Protocol):
    """A stream that knows the members of the communities it yielded in this run."""

    def members_of(self, external_id: str) -> Sequence[ClusterMember]: ...


class MembersRule(BaseModel):
    """Where a cluster's member list is, and the member fields within each entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(default="members", description="path of the list in the record")
    split: str | None = Field(default=None, description="members as one delimited string")
    name: str = "name"
    website: str | None = "website"
    identifiers: dict[str, str] = Field(
        default_factory=lambda: {"inn": "inn"}, description="scheme -> path in a member entry"
    )

    @field_validator("identifiers")
    @classmethod
    def _schemes(cls, value: dict[str, str]) -> dict[str, str]:
        for scheme in value:
            if not _IDENTIFIER_SCHEME.match(scheme):
                raise ValueError(f"{scheme!r} is not a scheme such as 'inn' or 'ogrn'")
        return value


class ClusterRegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="the registry document: http(s) or file:// (local source)")

    _url = field_validator("url")(source_url)
    format: Literal["geojson", "records"] = Field(
        default="geojson", description="a GeoJSON FeatureCollection, or a JSON list of records"
    )
    records_path: str | None = Field(
        default=None, description="records: dotted path of the list; none = the whole document"
    )
    latitude: str = Field(default="lat", description="records: latitude column")
    longitude: str = Field(default="lon", description="records: longitude column")
    mapping: FieldMapping = Field(description="feature properties -> community fields")
    members: MembersRule | None = Field(
        default=None, description="where a cluster's member organisations are listed"
    )

    @field_validator("mapping")
    @classmethod
    def _communities(cls, value: FieldMapping) -> FieldMapping:
        if value.entity is not EntityType.COMMUNITY:
            raise ValueError("a cluster registry maps to entity 'community'")
        return value


class ClusterStream(MappedStream):
    """The registry's clusters; a full snapshot each run, fetched conditionally."""

    def __init__(self, source_id: str, config: ClusterRegistryConfig, fetcher: Fetcher) -> None:
        self._source_id = source_id
        self._config = config
        self._fetcher = fetcher
        self.name = "clusters"
        self.mapping = config.mapping  # validated: entity 'community'
        self._members: dict[str, tuple[ClusterMember, ...]] = {}

    def members_of(self, external_id: str) -> Sequence[ClusterMember]:
        """Members of a cluster yielded in the current run (empty once a new run starts)."""
        return self._members.get(external_id, ())

    async def records(self, state: State | None) -> AsyncIterator[Emitted]:
        self._members = {}
        state = state or {}
        fetched = await self._fetcher.get(
            self._config.url, etag=state.get("etag"), last_modified=state.get("last_modified")
        )
        if fetched.not_modified:
            yield Checkpoint(dict(state))
            return
        seen: set[str] = set()
        for raw in _raw_records(self._config, fetched.body):
            items, record = self._cluster(raw)
            emitted = items[-1]
            if isinstance(emitted, Listing):
                if emitted.external_id in seen:
                    items = [
                        Rejected(
                            "the registry lists this external id more than once",
                            external_id=emitted.external_id,
                            raw=raw,
                        )
                    ]
                else:
                    seen.add(emitted.external_id)
                    if self._config.members is not None:
                        members = cluster_members(record, self._config.members)
                        self._members[emitted.external_id] = tuple(members)
            for item in items:
                yield item
        yield Checkpoint(fetched.validators)

    def _cluster(self, raw: Any) -> tuple[list[Mapped], Mapping[str, Any]]:
        """The cluster's listing (or why not), after its warnings, and the record the
        mapping read. A refused cluster keeps `raw` as the registry wrote it."""
        if not isinstance(raw, Mapping):
            return [Rejected("not an object", raw=raw)], {}
        record: Mapping[str, Any]
        if self._config.format == "geojson":
            record, where = _record_of(raw), _point(raw)
        else:
            lat, lon = lookup(raw, self._config.latitude), lookup(raw, self._config.longitude)
            record, where = raw, _location(lat, lon)
        applied = apply(self._config.mapping, record)
        payload = applied.payload
        name = payload.get("name")
        if isinstance(where, str) or not isinstance(name, Mapping) or not any(name.values()):
            reason = where if isinstance(where, str) else "no name (name.ru and name.en are empty)"
            return [Rejected(reason, _safe_id(self._config.mapping, record), raw)], record
        # The geometry is the registry's statement of where the cluster is.
        payload["location"] = {"lat": where[0], "lon": where[1]}
        payload.setdefault("form", OrganizationForm.CLUSTER.value)
        _industries_or_tags(payload)
        items = map_record(self._config.mapping, self._source_id, record, applied=applied)
        return [replace(i, raw=raw) if isinstance(i, Rejected) else i for i in items], record

    def remap(self, raw: Any, external_id: str, entity: EntityType) -> list[Mapped] | None:
        """A cluster kept unmapped (a feature, or a record), mapped with today's mapping;
        its members are linked by the next sync."""
        if entity is not EntityType.COMMUNITY:
            return None
        return self._cluster(raw)[0]


class ClusterRegistryConnector:
    """The connector: one registry document of clusters."""

    def __init__(self, source_id: str, config: ClusterRegistryConfig, fetcher: Fetcher) -> None:
        self._stream = ClusterStream(source_id, config, fetcher)

    def streams(self) -> Sequence[ClusterStream]:
        return [self._stream]


def cluster_members(record: Mapping[str, Any], rule: MembersRule) -> list[ClusterMember]:
    """The member organisations listed in one cluster record; unusable entries are dropped."""
    listed = lookup(record, rule.source)
    if isinstance(listed, str) and rule.split is not None:
        listed = listed.split(rule.split)
    if not isinstance(listed, list):
        return []
    members: list[ClusterMember] = []
    for entry in listed:
        member = _member(entry, rule)
        if member is not None and member not in members:
            members.append(member)
    return members


def _member(entry: Any, rule: MembersRule) -> ClusterMember | None:
    if isinstance(entry, str):
        return ClusterMember(name=entry.strip()) if entry.strip() else None
    if not isinstance(entry, Mapping):
        return None
    name = _text(lookup(entry, rule.name))
    website = _website(lookup(entry, rule.website)) if rule.website else None
    identifiers = tuple(
        found
        for scheme, path in rule.identifiers.items()
        if (found := _identifier(scheme, lookup(entry, path))) is not None
    )
    if name is None and website is None and not identifiers:
        return None
    return ClusterMember(name=name, website=website, identifiers=identifiers)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def _website(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if text.lower().startswith(("http://", "https://")):
        return text
    # Registries often give a bare domain; matching goes by the domain anyway.
    return f"https://{text}" if _DOMAIN.match(text) else None


def _identifier(scheme: str, value: Any) -> Identifier | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(value)
    if text is None:
        return None
    if scheme == "inn":
        digits = re.sub(r"[\s-]", "", text)
        # A mistyped ИНН must not match some other company: check its control digits.
        if not valid_inn(digits):
            return None
        text = digits
    try:
        return Identifier(scheme=scheme, value=text)
    except ValidationError:
        return None


def valid_inn(value: str) -> bool:
    """A 10-digit (organisation) or 12-digit (person) ИНН with correct control digits."""
    if not value.isascii() or not value.isdigit() or len(value) not in (10, 12):
        return False
    digits = [int(d) for d in value]

    def control(weights: Sequence[int]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(digits) == 10:
        return control((2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[9]
    return (
        control((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[10]
        and control((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[11]
    )


def _raw_records(config: ClusterRegistryConfig, body: bytes) -> list[Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise FatalError(f"the registry is not JSON: {error}") from None
    if config.format == "geojson":
        if not isinstance(document, Mapping) or document.get("type") != "FeatureCollection":
            raise FatalError("the registry is not a GeoJSON FeatureCollection")
        features = document.get("features")
        if not isinstance(features, list):
            raise FatalError("the FeatureCollection has no 'features' list")
        return features
    found = document if config.records_path is None else None
    if config.records_path is not None and isinstance(document, Mapping):
        found = lookup(document, config.records_path)
    if not isinstance(found, list):
        where = config.records_path or "the top level"
        raise FatalError(f"no list of records at {where}")
    return found


def _record_of(feature: Mapping[str, Any]) -> dict[str, Any]:
    """What the mapping reads for a feature: its properties, its geometry and its id."""
    properties = feature.get("properties")
    record = dict(properties) if isinstance(properties, Mapping) else {}
    record["geometry"] = feature.get("geometry")
    if "id" not in record and feature.get("id") is not None:
        record["id"] = feature["id"]
    return record


def _point(feature: Mapping[str, Any]) -> tuple[float, float] | str:
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        return "no geometry"
    if geometry.get("type") != "Point":
        return f"geometry is a {geometry.get('type')}; only a Point locates a cluster"
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return f"bad Point coordinates {coordinates!r}; expected [lon, lat]"
    return _location(coordinates[1], coordinates[0])


def _location(lat: Any, lon: Any) -> tuple[float, float] | str:
    latitude, longitude = _number(lat), _number(lon)
    if latitude is None or longitude is None:
        return f"no usable coordinates (lat {lat!r}, lon {lon!r})"
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return f"coordinates out of range (lat {latitude}, lon {longitude})"
    if latitude == 0 and longitude == 0:
        return "coordinates (0, 0) are a placeholder, not a place"
    return latitude, longitude


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", ".")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _industries_or_tags(payload: dict[str, Any]) -> None:
    # Unmapped specialisations would fail the whole listing; as tags they stay searchable.
    industries = payload.get("industries")
    if isinstance(industries, str):
        industries = [industries]
    if not isinstance(industries, list):
        return
    codes = [i for i in dict.fromkeys(industries) if isinstance(i, str) and i in INDUSTRIES]
    rest = [i for i in industries if isinstance(i, str) and i not in INDUSTRIES]
    payload["industries"] = codes
    if rest:
        tags = payload.get("tags")
        existing = tags if isinstance(tags, list) else [] if tags is None else [tags]
        payload["tags"] = list(dict.fromkeys([*existing, *(t[:60] for t in rest)]))


def _safe_id(mapping: FieldMapping, record: Mapping[str, Any]) -> str | None:
    try:
        return external_id(mapping, record)[:200]
    except SkippableRecord:
        return None
