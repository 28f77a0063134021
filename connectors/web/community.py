"""schema.org `Organization` (and the subtypes that are communities) -> CommunityData.

Which types are communities, and their form and kind (the source's config can
override any row and admit more types through `form_by_type` / `kind_by_type`):

| @type                                        | form                  | kind         |
|----------------------------------------------|-----------------------|--------------|
| Consortium                                   | consortium            | corporate    |
| WorkersUnion                                 | association           | professional |
| NGO                                          | association           | (default)    |
| GovernmentOrganization                       | regulator             | national     |
| EducationalOrganization, CollegeOrUniversity | educational_community | (default)    |
| ResearchOrganization, ResearchProject, Project | professional_group  | specialized  |
| Corporation                                  | (default)             | corporate    |
| Organization                                 | (default)             | (default)    |

Other Organization subtypes (LocalBusiness and its hundreds of kinds, MusicGroup,
SportsTeam, Airline, ...) are not communities and are passed over; the most
specific listed type decides when a node has several.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connectors.framework.errors import SkippableRecord
from connectors.web.config import JsonLdPagesConfig
from connectors.web.event import keywords
from connectors.web.values import (
    Left,
    Node,
    Page,
    as_list,
    clip,
    localized,
    number,
    read_country,
    text,
    texts,
)
from schema.taxonomy import ChannelType, CommunityKind, CommunityStatus, OrganizationForm

Row = tuple[OrganizationForm | None, CommunityKind | None]
_F, _K = OrganizationForm, CommunityKind
# Ordered from specific to generic: the first row a node's types hit decides.
COMMUNITY_TYPES: dict[str, Row] = {
    "Consortium": (_F.CONSORTIUM, _K.CORPORATE),
    "WorkersUnion": (_F.ASSOCIATION, _K.PROFESSIONAL),
    "NGO": (_F.ASSOCIATION, None),
    "GovernmentOrganization": (_F.REGULATOR, _K.NATIONAL),
    "CollegeOrUniversity": (_F.EDUCATIONAL_COMMUNITY, None),
    "EducationalOrganization": (_F.EDUCATIONAL_COMMUNITY, None),
    "ResearchOrganization": (_F.PROFESSIONAL_GROUP, _K.SPECIALIZED),
    "ResearchProject": (_F.PROFESSIONAL_GROUP, _K.SPECIALIZED),
    "Project": (_F.PROFESSIONAL_GROUP, _K.SPECIALIZED),
    "Corporation": (None, _K.CORPORATE),
    "Organization": (None, None),
}
# Hosts of `sameAs` links by channel type; anything else is a website.
_CHANNEL_HOSTS: dict[ChannelType, tuple[str, ...]] = {
    ChannelType.MESSENGER: (
        "t.me",
        "telegram.me",
        "wa.me",
        "chat.whatsapp.com",
        "discord.gg",
        "discord.com",
        "slack.com",
    ),
    ChannelType.SOCIAL: (
        "vk.com",
        "ok.ru",
        "facebook.com",
        "fb.com",
        "twitter.com",
        "x.com",
        "linkedin.com",
        "instagram.com",
        "youtube.com",
        "youtu.be",
        "rutube.ru",
        "dzen.ru",
        "habr.com",
        "github.com",
        "gitlab.com",
        "tiktok.com",
    ),
    ChannelType.FORUM: ("reddit.com", "stackexchange.com"),
    ChannelType.EVENT_PLATFORM: (
        "meetup.com",
        "timepad.ru",
        "eventbrite.com",
        "leader-id.ru",
        "lu.ma",
    ),
    ChannelType.NEWSLETTER: ("substack.com", "mailchi.mp"),
}
_WIKIDATA = re.compile(r"^https?://(?:www\.)?wikidata\.org/(?:wiki|entity)/(Q\d+)$")
_IDENTIFIERS = {"taxID": "tax_id", "vatID": "vat_id", "leiCode": "lei", "duns": "duns"}
_SHORT = 300


def community_types(config: JsonLdPagesConfig) -> set[str]:
    return set(COMMUNITY_TYPES) | set(config.form_by_type) | set(config.kind_by_type)


def is_community(page: Page, node: Node, config: JsonLdPagesConfig) -> bool:
    known = community_types(config)
    return any(t in known for t in page.types(node))


def form_and_kind(types: list[str], config: JsonLdPagesConfig) -> tuple[str, str]:
    row: Row = (None, None)
    for name in COMMUNITY_TYPES:
        if name in types:
            row = COMMUNITY_TYPES[name]
            break
    form = next((config.form_by_type[t] for t in types if t in config.form_by_type), row[0])
    kind = next((config.kind_by_type[t] for t in types if t in config.kind_by_type), row[1])
    return (form or config.default_form).value, (kind or config.default_kind).value


def channel_type(url: str) -> ChannelType:
    host = (urlsplit(url).hostname or "").lower()
    for kind, hosts in _CHANNEL_HOSTS.items():
        if any(host == h or host.endswith("." + h) for h in hosts):
            return kind
    return ChannelType.WEBSITE


def _links(page: Page, node: Node, website: str | None) -> tuple[list[dict[str, str]], list[str]]:
    """`sameAs` as channels, and Wikidata item ids (an identifier, not a channel)."""
    channels: list[dict[str, str]] = []
    wikidata: list[str] = []
    for item in as_list(node.get("sameAs")):
        url = page.url_of(item)
        if not url or url == website:
            continue
        if matched := _WIKIDATA.match(url):
            wikidata.append(matched.group(1))
        elif url not in (c["url"] for c in channels):
            channels.append({"type": channel_type(url).value, "url": url})
    return channels[:30], wikidata


def _place(page: Page, node: Node, left: list[Left]) -> dict[str, Any]:
    address = page.resolve(node.get("address"))
    location = page.resolve(node.get("location"))
    if not isinstance(address, Mapping) and isinstance(location, Mapping):
        address = page.resolve(location.get("address"))
    found: dict[str, Any] = {}
    if isinstance(address, Mapping):
        country, unknown = read_country(page.resolve(address.get("addressCountry")))
        if unknown is not None:
            left.append(("countries", unknown, f"{unknown!r} names no country we know"))
        found = {
            "city": text(address.get("addressLocality")),
            "region": text(address.get("addressRegion")),
            "countries": [country] if country else [],
        }
    geo = page.resolve(location.get("geo")) if isinstance(location, Mapping) else None
    if isinstance(geo, Mapping):
        lat, lon = number(geo.get("latitude")), number(geo.get("longitude"))
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            found["location"] = {"lat": lat, "lon": lon}
    return {k: clip(v, _SHORT) if isinstance(v, str) else v for k, v in found.items()}


def _year(value: Any) -> int | None:
    found = re.match(r"^\s*(\d{4})", text(value) or "")
    year = int(found.group(1)) if found else None
    return year if year and 1000 <= year <= 2100 else None


def member_count(page: Page, node: Node) -> int | None:
    """Members: a JoinAction interaction counter; else `numberOfEmployees` (see report)."""
    for item in as_list(node.get("interactionStatistic")):
        counter = page.resolve(item)
        if isinstance(counter, Mapping) and page.term(counter.get("interactionType")) in (
            "JoinAction",
            "RegisterAction",
        ):
            count = number(counter.get("userInteractionCount"))
            if count is not None and count >= 0:
                return int(count)
    # Schema.org has no member count for organizations; numberOfEmployees is the
    # nearest thing sites fill in (a QuantitativeValue or a plain number).
    employees = page.resolve(node.get("numberOfEmployees"))
    if isinstance(employees, Mapping):
        employees = employees.get("value", employees.get("minValue"))
    count = number(employees)
    return int(count) if count is not None and count >= 0 else None


def _aliases(node: Node, name: dict[str, str]) -> list[str]:
    found: list[str] = []
    for alias in texts(node.get("alternateName")) + texts(node.get("legalName")):
        alias = clip(alias, _SHORT)
        if alias not in found and alias not in name.values():
            found.append(alias)
    return found[:50]


def _member_of(page: Page, node: Node) -> list[str]:
    refs: list[str] = []
    for item in as_list(node.get("memberOf")):
        target = page.resolve(item)
        # memberOf may name a ProgramMembership rather than the organization itself.
        if isinstance(target, Mapping) and "ProgramMembership" in page.types(target):
            target = page.resolve(target.get("hostingOrganization"))
        ref = page.reference(target)
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def _identifiers(node: Node, wikidata: list[str]) -> list[dict[str, str]]:
    found = [{"scheme": "wikidata", "value": item} for item in wikidata]
    for prop, scheme in _IDENTIFIERS.items():
        value = text(node.get(prop))
        if value and len(value) <= 64:
            found.append({"scheme": scheme, "value": value})
    return found[:20]


def community_payload(
    page: Page, node: Node, config: JsonLdPagesConfig, left: list[Left] | None = None
) -> dict[str, Any]:
    """The payload, or SkippableRecord; values left out of it are added to `left`."""
    name = localized(node.get("name"), config.language.value, limit=_SHORT)
    if name is None:
        raise SkippableRecord("the organization has no name")
    form, kind = form_and_kind(page.types(node), config)
    website = page.url_of(node.get("url"))
    channels, wikidata = _links(page, node, website)
    payload: dict[str, Any] = {
        "name": name,
        "description": localized(node.get("description"), config.language.value),
        "aliases": _aliases(node, name),
        "kind": kind,
        "form": form,
        **_place(page, node, left if left is not None else []),
        "website": website,
        "channels": channels,
        "founded_year": _year(node.get("foundingDate")),
        "member_count": member_count(page, node),
        "tags": keywords(node),
        "identifiers": _identifiers(node, wikidata),
        "member_of": _member_of(page, node),
    }
    if text(node.get("dissolutionDate")):
        payload["status"] = CommunityStatus.DISSOLVED.value
    return {key: value for key, value in payload.items() if value not in (None, [], {})}
