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

from connectors.cluster_registry import ClusterRegistry, ClusterRegistryConfig
from connectors.csv_registry import CsvRegistryConfig, CsvRegistryConnector
from connectors.framework.contract import Connector, Fetcher
from connectors.graphql_platform import GraphQLPlatform, GraphQLPlatformConfig
from connectors.ics.config import IcsFeedConfig
from connectors.ics.connector import IcsFeedConnector
from connectors.json_api import JsonApiConfig, JsonApiConnector
from connectors.singer_tap import SingerConfig, SingerTap
from connectors.web.config import JsonLdPagesConfig
from connectors.web.jsonld_pages import JsonLdPagesConnector
from connectors.web.rss import RssFeedConfig, RssFeedConnector


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]
    build: Callable[[Any, Fetcher, str], Connector]
    description: str


KINDS: dict[str, Kind] = {
    "csv": Kind(
        CsvRegistryConfig,
        lambda c, f, s: CsvRegistryConnector(c, f, s),
        "CSV association registry",
    ),
    "json_api": Kind(
        JsonApiConfig, lambda c, f, s: JsonApiConnector(c, f, s), "paginated JSON API"
    ),
    "clusters": Kind(
        ClusterRegistryConfig,
        lambda c, f, s: ClusterRegistry(s, c, f),
        "cluster registry (GeoJSON or JSON records)",
    ),
    "ics": Kind(IcsFeedConfig, lambda c, f, s: IcsFeedConnector(c, f, s), "iCalendar feed"),
    "jsonld": Kind(
        JsonLdPagesConfig,
        lambda c, f, s: JsonLdPagesConnector(c, f, s),
        "schema.org JSON-LD in web pages",
    ),
    "rss": Kind(RssFeedConfig, lambda c, f, s: RssFeedConnector(c, f, s), "RSS/Atom feed"),
    "graphql": Kind(
        GraphQLPlatformConfig,
        lambda c, f, s: GraphQLPlatform(s, c, f),
        "GraphQL platform (Meetup-style)",
    ),
    "singer": Kind(SingerConfig, lambda c, f, s: SingerTap(s, c), "Singer tap"),
}


class ConfigError(ValueError):
    """A source's connector configuration is invalid; the message names the fields."""


def validate_config(kind: str, config: Mapping[str, Any]) -> BaseModel:
    if kind not in KINDS:
        raise ConfigError(f"kind: unknown connector kind {kind!r}; known: {', '.join(KINDS)}")
    try:
        return KINDS[kind].config.model_validate(dict(config))
    except ValidationError as error:
        problems = [
            f"config.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in error.errors(include_url=False)
        ]
        raise ConfigError("; ".join(problems)) from None


def build_connector(
    kind: str, config: Mapping[str, Any], fetcher: Fetcher, source_id: str
) -> Connector:
    return KINDS[kind].build(validate_config(kind, config), fetcher, source_id)
