"""Declarative field mappings: raw source records -> guildgraph payloads.

A mapping is data (stored with the source, validated when the source is
registered) saying where each payload field comes from:

    {"entity": "community",
     "external_id": "ОГРН",
     "fields": {
        "name.ru": "Наименование",                       # a column or dotted path
        "form": {"source": "ОПФ", "values": {"АНО": "association", "НП": "association"}},
        "kind": {"value": "national"},                   # a constant
        "industries": {"source": "Отрасли", "split": ";"},
        "identifiers.inn": "ИНН"}}                       # kept as {"scheme": "inn", ...}

Targets are checked against the entity's payload model, and enum targets'
`values` against the enum, so a typo fails at registration with the field named.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.framework.contract import Rejected
from connectors.framework.errors import SkippableRecord
from connectors.framework.reasons import validation_reason
from schema.models import ENTITY_DATA, Listing, LocalizedText
from schema.taxonomy import EntityType

IDENTIFIERS = "identifiers."


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(default=None, description="column name or dotted path")
    value: Any = Field(default=None, description="a constant")
    values: dict[str, Any] | None = Field(default=None, description="raw value -> payload value")
    split: str | None = Field(default=None, description="split a string into a list")
    default: Any = None

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        if (self.source is None) == (self.value is None):
            raise ValueError("give exactly one of 'source' or 'value'")
        return self


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: EntityType
    external_id: str | list[str] = Field(description="path(s) whose values make the id")
    url: str | None = Field(default=None, description="path of the record's own URL")
    fields: dict[str, FieldRule | str]

    @model_validator(mode="after")
    def _known_targets(self) -> FieldMapping:
        model = ENTITY_DATA[self.entity]
        for target, rule in self.fields.items():
            _check_target(model, target, rule if isinstance(rule, FieldRule) else None)
        return self

    def rules(self) -> dict[str, FieldRule]:
        return {
            target: rule if isinstance(rule, FieldRule) else FieldRule(source=rule)
            for target, rule in self.fields.items()
        }


def _check_target(model: type[BaseModel], target: str, rule: FieldRule | None) -> None:
    if target.startswith(IDENTIFIERS):
        if "identifiers" not in model.model_fields or not target[len(IDENTIFIERS) :]:
            raise ValueError(f"fields.{target}: this entity has no identifiers")
        return
    head, _, rest = target.partition(".")
    if head not in model.model_fields:
        known = ", ".join(sorted(model.model_fields))
        raise ValueError(f"fields.{target}: unknown field {head!r}; known: {known}")
    annotation = model.model_fields[head].annotation
    if rest:
        if LocalizedText not in get_args(annotation) and annotation is not LocalizedText:
            if rest not in ("lat", "lon") and not _nested(annotation, rest):
                raise ValueError(f"fields.{target}: {head!r} has no part {rest!r}")
        elif rest not in ("ru", "en"):
            raise ValueError(f"fields.{target}: a localized field takes .ru or .en")
    enum = _enum_of(annotation)
    if enum is not None and rule is not None:
        allowed = {member.value for member in enum}
        for raw, mapped in (rule.values or {}).items():
            for item in mapped if isinstance(mapped, list) else [mapped]:
                if item not in allowed:
                    raise ValueError(
                        f"fields.{target}.values[{raw!r}]: {item!r} is not one of "
                        f"{', '.join(sorted(allowed))}"
                    )


def _nested(annotation: Any, part: str) -> bool:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return part in candidate.model_fields
    return False


def _enum_of(annotation: Any) -> type[Enum] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return candidate
        for inner in get_args(candidate):
            if isinstance(inner, type) and issubclass(inner, Enum):
                return inner
    return None


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """A column name as is, else a dotted path into nested objects."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve(rule: FieldRule, record: Mapping[str, Any]) -> Any:
    if rule.source is None:
        return rule.value
    value = lookup(record, rule.source)
    if _blank(value):
        return rule.default
    if rule.split is not None and isinstance(value, str):
        value = [part.strip() for part in value.split(rule.split) if part.strip()]
    if rule.values is not None:
        if isinstance(value, list):
            return [rule.values.get(str(v), v) for v in value]
        return rule.values.get(str(value).strip(), value)
    return value.strip() if isinstance(value, str) else value


def _put(payload: dict[str, Any], target: str, value: Any) -> None:
    head, _, rest = target.partition(".")
    if not rest:
        payload[head] = value
        return
    payload.setdefault(head, {})[rest] = value


def external_id(mapping: FieldMapping, record: Mapping[str, Any]) -> str:
    paths = [mapping.external_id] if isinstance(mapping.external_id, str) else mapping.external_id
    parts = [lookup(record, path) for path in paths]
    if any(_blank(p) for p in parts):
        raise SkippableRecord(
            f"no value for the external id ({', '.join(paths)})", raw=dict(record)
        )
    return ":".join(str(p).strip() for p in parts)


def apply(mapping: FieldMapping, record: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for one raw record (validated later by ingestion, field by field)."""
    payload: dict[str, Any] = {}
    identifiers: list[dict[str, str]] = []
    for target, rule in mapping.rules().items():
        value = _resolve(rule, record)
        if _blank(value) or value == []:
            continue
        if target.startswith(IDENTIFIERS):
            identifiers.append({"scheme": target[len(IDENTIFIERS) :], "value": str(value)})
        else:
            _put(payload, target, value)
    if identifiers:
        payload["identifiers"] = identifiers
    return payload


def to_listing(
    mapping: FieldMapping,
    source_id: str,
    record: Any,
    *,
    payload: dict[str, Any] | None = None,
    read_from: str | None = None,
    where: str = "",
) -> Listing | Rejected:
    """One raw record as a Listing, or Rejected with the reason; never raises for bad data.

    `payload` replaces `apply(mapping, record)` when a connector adjusted it (a
    cluster's location, a GraphQL child's parent); `read_from` is the document the
    record came from, the provenance URL when the record has no page of its own;
    `where` locates the record in rejection reasons ("line 12", "page 3 record 4").
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(record, Mapping):
        return Rejected(f"{prefix}a record is not an object", raw=record)
    try:
        key = external_id(mapping, record)
    except SkippableRecord as error:
        return Rejected(prefix + error.reason, raw=dict(record))
    own_url = lookup(record, mapping.url) if mapping.url else None
    try:
        return Listing(
            entity=mapping.entity,
            source_id=source_id,
            external_id=key,
            payload=apply(mapping, record) if payload is None else payload,
            url=own_url.strip() if isinstance(own_url, str) and own_url.strip() else read_from,
        )
    except SkippableRecord as error:
        return Rejected(prefix + error.reason, external_id=key, raw=dict(record))
    except ValidationError as error:
        return Rejected(prefix + validation_reason(error), external_id=key, raw=dict(record))


class MappedStream:
    """Stream metadata of a stream whose records go through one FieldMapping.

    Subclasses set `name` and `mapping`; a stream yielding several entities (GraphQL
    children) still reports its main mapping's, so go by `Listing.entity`.
    """

    name: str
    mapping: FieldMapping

    @property
    def entity(self) -> EntityType:
        return self.mapping.entity

    @property
    def primary_key(self) -> tuple[str, ...]:
        key = self.mapping.external_id
        return (key,) if isinstance(key, str) else tuple(key)

    @property
    def replication_key(self) -> str | None:
        return None  # full documents or pages: the source keeps no change order
