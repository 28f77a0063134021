"""Declarative field mappings: raw source records -> guildgraph payloads.

A mapping is data (stored with the source, validated when the source is
registered) saying where each payload field comes from:

    {"entity": "community",
     "external_id": "ОГРН",
     "invalid_values": "drop_field",                     # or "reject_row": see below
     "fields": {
        "name.ru": "Наименование",                       # a column or dotted path
        "form": {"source": "ОПФ", "values": {"АНО": "association", "НП": "association"}},
        "kind": {"value": "national"},                   # a constant
        "industries": {"source": "Отрасли", "split": [";", ","],
                       "values": {"ИТ и связь": ["it", "telecom"]}},  # one flat list
        "founded_year": {"source": "Дата регистрации", "transform": "year"},
        "website": "Сайт",                               # www.x.org -> https://www.x.org
        "identifiers.inn": "ИНН"}}                       # kept as {"scheme": "inn", ...}

Targets are checked against the entity's payload model, and enum targets'
`values` against the enum, so a typo fails at registration with the field named.
Column names are matched after normalization (connectors.framework.columns).

Transforms (connectors.framework.transforms): "date", "datetime" and "year" read the
date forms registries export (`formats` narrows or extends them); "url" makes a web
address of "www.example.org", and targets named website, url or online_url get it
without asking.

A bad value (a date 30.02.2021, a website "нет") is never stored as something else.
`invalid_values` (per mapping, or per field as `invalid`) says what it does to its
record: "drop_field" keeps the record without that field, with a `FieldWarning`
(field, raw value, why) for admins; "reject_row" refuses the record, naming the
field. A required field (a name, a start) cannot be left out: a record with a bad
one is refused either way, with every bad field named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.framework.columns import describe, match_columns
from connectors.framework.contract import FieldWarning, Mapped, Rejected
from connectors.framework.errors import FatalError, SkippableRecord
from connectors.framework.invalid import Applied, Problem, settle
from connectors.framework.reasons import validation_reason
from connectors.framework.transforms import (
    DEFAULT_FORMS,
    BadValue,
    DateForm,
    Transform,
    to_date,
    to_datetime,
    to_url,
    to_year,
)
from schema.models import ENTITY_DATA, Listing, LocalizedText
from schema.taxonomy import EntityType

IDENTIFIERS = "identifiers."
# Targets whose values are web addresses: "www.example.org" is one, given a scheme.
URL_TARGETS = frozenset({"website", "url", "online_url"})
InvalidValues = Literal["drop_field", "reject_row"]
_DATE_TRANSFORMS = frozenset({"date", "datetime", "year"})
# How often a record's payload is validated again after leaving bad fields out.
_MAX_DROP_ROUNDS = 5


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(default=None, description="column name or dotted path")
    value: Any = Field(default=None, description="a constant")
    values: dict[str, Any] | None = Field(
        default=None, description="raw value -> payload value (a list is flattened in)"
    )
    split: str | list[str] | None = Field(
        default=None, description="separator(s) splitting a string into a list"
    )
    transform: Transform | None = Field(
        default=None, description="date, datetime, year (of a date) or url"
    )
    formats: list[DateForm] | None = Field(
        default=None,
        description="date forms a date transform reads; default dd.mm.yyyy, yyyy-mm-dd, dd/mm/yyyy",
    )
    invalid: InvalidValues | None = Field(
        default=None, description="what a bad value does to its record (default: the mapping's)"
    )
    default: Any = None

    @model_validator(mode="after")
    def _consistent(self) -> FieldRule:
        if (self.source is None) == (self.value is None):
            raise ValueError("give exactly one of 'source' or 'value'")
        separators = [self.split] if isinstance(self.split, str) else self.split or []
        if any(not separator for separator in separators) or self.split == []:
            raise ValueError("split: give non-empty separators, e.g. ';' or [';', ',']")
        if self.formats is not None and self.transform not in _DATE_TRANSFORMS:
            raise ValueError("formats: only with a transform 'date', 'datetime' or 'year'")
        return self

    def forms(self) -> tuple[DateForm, ...]:
        return tuple(self.formats) if self.formats else DEFAULT_FORMS


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: EntityType
    external_id: str | list[str] = Field(description="path(s) whose values make the id")
    url: str | None = Field(default=None, description="path of the record's own URL")
    fields: dict[str, FieldRule | str]
    invalid_values: InvalidValues = Field(
        default="drop_field",
        description="a bad value in an optional field: keep the record without it and "
        "record a warning (drop_field), or refuse the record (reject_row)",
    )

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

    def source_paths(self) -> list[tuple[str, str]]:
        """(where in the mapping, path) for every path it reads from a record."""
        keys = [self.external_id] if isinstance(self.external_id, str) else self.external_id
        paths = [("external_id", key) for key in keys]
        if self.url is not None:
            paths.append(("url", self.url))
        paths += [
            (f"fields.{target}", rule.source)
            for target, rule in self.rules().items()
            if rule.source is not None
        ]
        return paths

    def bind_columns(self, columns: Sequence[str]) -> FieldMapping:
        """This mapping over a table with these columns: each path it names becomes the
        column it means (after normalization). FatalError naming every column that is
        not there, with the table's columns."""
        matched, unmatched = match_columns(self.source_paths(), columns)
        if unmatched:
            raise FatalError(
                f"the mapping names columns the file does not have: {describe(unmatched, columns)}"
            )
        if all(name == column for name, column in matched.items()):
            return self
        keys = self.external_id
        fields = {
            target: rule.model_copy(update={"source": matched[rule.source]})
            if rule.source is not None
            else rule
            for target, rule in self.rules().items()
        }
        return self.model_copy(
            update={
                "external_id": matched[keys]
                if isinstance(keys, str)
                else [matched[k] for k in keys],
                "url": matched[self.url] if self.url is not None else None,
                "fields": fields,
            }
        )

    def policy(self, target: str) -> InvalidValues:
        """What a bad value of `target` (or of a part of it) does to its record."""
        rules = self.rules()
        for name in (target, *(t for t in rules if t.startswith(target + "."))):
            rule = rules.get(name)
            if rule is not None and rule.invalid is not None:
                return rule.invalid
        return self.invalid_values


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


def _split(value: Any, separators: str | list[str]) -> Any:
    """A string (or each string of a list) cut at any of the separators, as one list
    without repeats."""
    listed = [separators] if isinstance(separators, str) else separators
    pattern = re.compile("|".join(re.escape(s) for s in sorted(listed, key=len, reverse=True)))
    out: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            out.extend(part.strip() for part in pattern.split(item) if part.strip())
        elif item is not None:
            out.append(item)
    return _flat_unique(out)


def _flat_unique(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        for value in item if isinstance(item, list) else [item]:
            if value not in out:
                out.append(value)
    return out


def _looked_up(values: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, Mapping | list):
        return value
    return values.get(str(value).strip(), value.strip() if isinstance(value, str) else value)


def _transformed(value: Any, transform: Transform, rule: FieldRule) -> Any:
    if isinstance(value, list):
        return [_transformed(item, transform, rule) for item in value]
    if not isinstance(value, str):
        if transform == "year" and isinstance(value, int) and not isinstance(value, bool):
            return value
        return value  # a number or an object: the payload model judges it
    if transform == "url":
        return to_url(value)
    if transform == "date":
        return to_date(value, rule.forms())
    if transform == "datetime":
        return to_datetime(value, rule.forms())
    return to_year(value, rule.forms())


def _resolve(target: str, rule: FieldRule, record: Mapping[str, Any]) -> tuple[Any, Any]:
    """(payload value, value as the source wrote it); BadValue when a transform fails."""
    if rule.source is None:
        return rule.value, rule.value
    raw = lookup(record, rule.source)
    if _blank(raw):
        return rule.default, raw
    value = raw
    if rule.split is not None:
        value = _split(value, rule.split)
    if rule.values is not None:
        value = (
            _flat_unique(_looked_up(rule.values, v) for v in value)
            if isinstance(value, list)
            else _looked_up(rule.values, value)
        )
    elif isinstance(value, str):
        value = value.strip()
    transform = rule.transform
    if transform is None and target.rpartition(".")[2] in URL_TARGETS:
        transform = "url"
    if transform is not None:
        value = _transformed(value, transform, rule)
    return value, raw


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


def apply(mapping: FieldMapping, record: Mapping[str, Any]) -> Applied:
    """The payload for one raw record, with what could not be read (see `map_record`)."""
    applied = Applied()
    identifiers: list[dict[str, str]] = []
    for target, rule in mapping.rules().items():
        try:
            value, raw = _resolve(target, rule, record)
        except BadValue as bad:
            applied.problems.append(Problem(target, lookup(record, rule.source or ""), str(bad)))
            continue
        if _blank(value) or value == []:
            continue
        applied.raw[target] = raw
        if target.startswith(IDENTIFIERS):
            identifiers.append({"scheme": target[len(IDENTIFIERS) :], "value": str(value)})
            applied.identifier_targets.append(target)
        else:
            _put(applied.payload, target, value)
    if identifiers:
        applied.payload["identifiers"] = identifiers
    return applied


def map_record(
    mapping: FieldMapping,
    source_id: str,
    record: Any,
    *,
    applied: Applied | None = None,
    read_from: str | None = None,
    where: str = "",
) -> list[Mapped]:
    """One raw record as its listing (or why not), after the warnings about values it
    was kept without; never raises for bad data.

    `applied` replaces `apply(mapping, record)` when a connector adjusted it (a
    cluster's location, a GraphQL child's parent); `read_from` is the document the
    record came from, the provenance URL when the record has no page of its own;
    `where` locates the record in rejection reasons ("line 12", "page 3 record 4").
    """
    prefix = f"{where}: " if where else ""
    entity = mapping.entity
    if not isinstance(record, Mapping):
        return [Rejected(f"{prefix}a record is not an object", raw=record, entity=entity)]
    try:
        key = external_id(mapping, record)
    except SkippableRecord as error:
        return [Rejected(prefix + error.reason, raw=dict(record), entity=entity)]
    applied = applied if applied is not None else apply(mapping, record)
    settled = settle(ENTITY_DATA[entity], applied, mapping.policy)
    if isinstance(settled, str):
        return [Rejected(prefix + settled, external_id=key, raw=dict(record), entity=entity)]
    warnings = [FieldWarning(key, w.target, w.raw, w.message) for w in settled]
    own_url = lookup(record, mapping.url) if mapping.url else None
    try:
        listing = Listing(
            entity=mapping.entity,
            source_id=source_id,
            external_id=key,
            payload=applied.payload,
            url=_page_url(own_url) or read_from,
        )
    except ValidationError as error:
        reason = prefix + validation_reason(error)
        return [Rejected(reason, external_id=key, raw=dict(record), entity=entity)]
    return [*warnings, listing]


def _page_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return to_url(value)
    except BadValue:
        return None  # the record's page is provenance only: the document's URL stands in


def to_listing(
    mapping: FieldMapping,
    source_id: str,
    record: Any,
    *,
    applied: Applied | None = None,
    read_from: str | None = None,
    where: str = "",
) -> Listing | Rejected:
    """`map_record` without its warnings: the listing, or why there is none."""
    result = map_record(
        mapping, source_id, record, applied=applied, read_from=read_from, where=where
    )[-1]
    if isinstance(result, FieldWarning):  # pragma: no cover - map_record ends with one
        raise TypeError("map_record ended with a warning")
    return result


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
