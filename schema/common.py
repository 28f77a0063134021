"""Small types shared by the entity modules, and resolver helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from schema.context import Info
from schema.documents import GeoJSONPoint, LocalizedDoc, ProvenanceEntry, TitledContent
from schema.enums import ChannelType, Lang


@strawberry.interface(description="An object with a global id (Relay)")
class Node:
    id: strawberry.ID


@strawberry.type(description="A text in both content languages, as stored")
class LocalizedString:
    ru: str | None
    en: str | None

    @classmethod
    def from_doc(cls, value: LocalizedDoc | None) -> LocalizedString | None:
        if not value:
            return None
        return cls(ru=value.get("ru"), en=value.get("en"))


def pick_language(value: LocalizedDoc | None, lang: Lang) -> str | None:
    """The text in `lang`, falling back to the other language."""
    if not value:
        return None
    ru, en = value.get("ru"), value.get("en")
    text = (ru or en) if lang is Lang.RU else (en or ru)
    return str(text) if text else None


def resolve_lang(requested: Lang | None, default: Lang) -> Lang:
    return requested if requested is not None else default


@strawberry.type
class Titled:
    """The localized title and description fields shared by Event and Standard."""

    doc: strawberry.Private[TitledContent]

    @strawberry.field(description="Title in `lang` (default: Accept-Language), else the other")
    def title(self, info: Info, lang: Lang | None = None) -> str:
        return pick_language(self.doc["title"], resolve_lang(lang, info.context.lang)) or ""

    @strawberry.field
    def description(self, info: strawberry.Info[Any, Any], lang: Lang | None = None) -> str | None:
        return pick_language(self.doc.get("description"), resolve_lang(lang, info.context.lang))

    @strawberry.field(description="The title in both languages as stored")
    def titles(self) -> LocalizedString:
        stored = self.doc["title"]
        return LocalizedString(ru=stored.get("ru"), en=stored.get("en"))

    @strawberry.field
    def descriptions(self) -> LocalizedString | None:
        return LocalizedString.from_doc(self.doc.get("description"))


@strawberry.type
class GeoPoint:
    lat: float
    lon: float

    @classmethod
    def from_doc(cls, value: GeoJSONPoint | None) -> GeoPoint | None:
        # Stored as GeoJSON so a 2dsphere index can serve radius queries.
        if not value or "coordinates" not in value:
            return None
        lon, lat = value["coordinates"]
        return cls(lat=lat, lon=lon)


@strawberry.type
class Channel:
    type: ChannelType
    url: str
    label: str | None


@strawberry.type(description="A registration number: ИНН, ОГРН, SIREN, RNA, ...")
class Identifier:
    scheme: str
    value: str


@strawberry.type(description="A source that supports this entity (provenance)")
class SourceRef:
    source_id: str
    external_id: str
    url: str | None
    fetched_at: datetime

    @classmethod
    def from_doc(cls, doc: ProvenanceEntry) -> SourceRef:
        return cls(
            source_id=doc["source_id"],
            external_id=doc["external_id"],
            url=doc.get("url"),
            fetched_at=doc["fetched_at"],
        )


Fragments = dict[str, FragmentDefinitionNode]


def selects(selection_set: SelectionSetNode | None, name: str, fragments: Fragments) -> bool:
    """Whether a field is selected directly under this selection set (fragments included)."""
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == name:
                return True
        elif isinstance(selection, InlineFragmentNode):
            if selects(selection.selection_set, name, fragments):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and selects(fragment.selection_set, name, fragments):
                return True
    return False


def wants_total(info: strawberry.Info[Any, Any]) -> bool:
    # The document's own nodes: Strawberry's `info.selected_fields` converts the whole
    # selection tree below the field on every call (a fifth of a showcase request's CPU,
    # asked once per connection field); this walks one level. `_raw_info` is
    # graphql-core's resolve info, pinned with Strawberry by the lock file.
    raw = info._raw_info
    return any(selects(node.selection_set, "totalCount", raw.fragments) for node in raw.field_nodes)
