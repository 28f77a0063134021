"""Connector kinds: how a source's `kind` and `config` become a validated connector.

A source stores its connector configuration as data; it is validated here when
the source is registered (errors name the field) and turned into a connector
when a run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.cluster_registry import ClusterRegistryConfig, ClusterRegistryConnector
from connectors.csv_registry import CsvRegistryConfig, CsvRegistryConnector
from connectors.framework.contract import Connector, Fetcher
from connectors.framework.reasons import validation_reason
from connectors.graphql_platform import GraphQLPlatformConfig, GraphQLPlatformConnector
from connectors.ics.config import IcsFeedConfig
from connectors.ics.connector import IcsFeedConnector
from connectors.json_api import JsonApiConfig, JsonApiConnector
from connectors.singer_tap import SingerConfig, SingerTapConnector
from connectors.web.config import JsonLdPagesConfig
from connectors.web.jsonld_pages import JsonLdPagesConnector
from connectors.web.rss import RssFeedConfig, RssFeedConnector


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]
    # The connector class; every one is built as (source_id, config, fetcher).
    connector: Callable[[str, Any, Fetcher], Connector]
    description: str


KINDS: dict[str, Kind] = {
    "csv": Kind(CsvRegistryConfig, CsvRegistryConnector, "CSV association registry"),
    "json_api": Kind(JsonApiConfig, JsonApiConnector, "paginated JSON API"),
    "clusters": Kind(
        ClusterRegistryConfig,
        ClusterRegistryConnector,
        "cluster registry (GeoJSON or JSON records)",
    ),
    "ics": Kind(IcsFeedConfig, IcsFeedConnector, "iCalendar feed"),
    "jsonld": Kind(JsonLdPagesConfig, JsonLdPagesConnector, "schema.org JSON-LD in web pages"),
    "rss": Kind(RssFeedConfig, RssFeedConnector, "RSS/Atom feed"),
    "graphql": Kind(
        GraphQLPlatformConfig, GraphQLPlatformConnector, "GraphQL platform (Meetup-style)"
    ),
    "singer": Kind(SingerConfig, SingerTapConnector, "Singer tap"),
}


class ConfigError(ValueError):
    """A source's connector configuration is invalid; the message names the fields."""


def validate_config(kind: str, config: Mapping[str, Any]) -> BaseModel:
    if kind not in KINDS:
        raise ConfigError(f"kind: unknown connector kind {kind!r}; known: {', '.join(KINDS)}")
    try:
        return KINDS[kind].config.model_validate(dict(config))
    except ValidationError as error:
        raise ConfigError(validation_reason(error, whole="(root)", prefix="config.")) from None


def build_connector(
    kind: str, source_id: str, config: Mapping[str, Any], fetcher: Fetcher
) -> Connector:
    return KINDS[kind].connector(source_id, validate_config(kind, config), fetcher)
