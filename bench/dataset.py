"""A deterministic synthetic dataset for the read benchmark, loaded through `ingest`.

Names combine small ru/en word lists so that text, sort keys and slugs look like
real data; industries are skewed so that `industries: ["it"]` selects roughly
15% of communities. Same seed and anchor day give the same listings.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schema.models import Listing
from schema.taxonomy import (
    INDUSTRIES,
    AttendanceMode,
    CommunityKind,
    EventFormat,
    MemberOffer,
    OrganizationForm,
    StandardKind,
)
from service.documents.search_text import slugify
from service.ingest.pipeline import Outcome, ingest
from service.storage.collections import COMMUNITIES, EVENTS, STANDARDS, Database

SOURCE = "bench"


@dataclass(frozen=True)
class Sizes:
    communities: int = 10_000
    events: int = 50_000
    standards: int = 2_000


@dataclass(frozen=True)
class City:
    ru: str
    ru_genitive: str
    en: str
    country: str
    timezone: str
    lat: float
    lon: float


CITIES = (
    City("Москва", "Москвы", "Moscow", "RU", "Europe/Moscow", 55.7558, 37.6173),
    City("Санкт-Петербург", "Санкт-Петербурга", "Saint Petersburg", "RU", "Europe/Moscow",
         59.9343, 30.3351),
    City("Казань", "Казани", "Kazan", "RU", "Europe/Moscow", 55.7961, 49.1064),
    City("Нижний Новгород", "Нижнего Новгорода", "Nizhny Novgorod", "RU", "Europe/Moscow",
         56.2965, 43.9361),
    City("Екатеринбург", "Екатеринбурга", "Yekaterinburg", "RU", "Asia/Yekaterinburg",
         56.8389, 60.6057),
    City("Новосибирск", "Новосибирска", "Novosibirsk", "RU", "Asia/Novosibirsk",
         55.0084, 82.9357),
    City("Томск", "Томска", "Tomsk", "RU", "Asia/Tomsk", 56.4847, 84.9482),
    City("Владивосток", "Владивостока", "Vladivostok", "RU", "Asia/Vladivostok",
         43.1155, 131.8855),
    City("Калининград", "Калининграда", "Kaliningrad", "RU", "Europe/Kaliningrad",
         54.7104, 20.4522),
    City("Алматы", "Алматы", "Almaty", "KZ", "Asia/Almaty", 43.2220, 76.8512),
    City("Минск", "Минска", "Minsk", "BY", "Europe/Minsk", 53.9006, 27.5590),
    City("Ташкент", "Ташкента", "Tashkent", "UZ", "Asia/Tashkent", 41.2995, 69.2401),
    City("Ереван", "Еревана", "Yerevan", "AM", "Asia/Yerevan", 40.1792, 44.4991),
    City("Тбилиси", "Тбилиси", "Tbilisi", "GE", "Asia/Tbilisi", 41.7151, 44.8271),
    City("Белград", "Белграда", "Belgrade", "RS", "Europe/Belgrade", 44.7866, 20.4489),
    City("Берлин", "Берлина", "Berlin", "DE", "Europe/Berlin", 52.5200, 13.4050),
    City("Лондон", "Лондона", "London", "GB", "Europe/London", 51.5072, -0.1276),
)  # fmt: skip

# What the community is called, by organization form: (ru, en).
FORM_NOUNS: dict[OrganizationForm, tuple[tuple[str, str], ...]] = {
    OrganizationForm.ASSOCIATION: (("Ассоциация", "Association"), ("Союз", "Union")),
    OrganizationForm.CONSORTIUM: (("Консорциум", "Consortium"),),
    OrganizationForm.CLUSTER: (("Кластер", "Cluster"), ("Отраслевой кластер", "Industry Cluster")),
    OrganizationForm.STANDARDS_BODY: (
        ("Технический комитет", "Technical Committee"),
        ("Комитет по стандартизации", "Standards Committee"),
    ),
    OrganizationForm.REGULATOR: (("Совет", "Council"), ("Палата", "Chamber")),
    OrganizationForm.PROFESSIONAL_GROUP: (("Гильдия", "Guild"), ("Клуб", "Club")),
    OrganizationForm.ONLINE_COMMUNITY: (("Сообщество", "Community"), ("Чат", "Chat")),
    OrganizationForm.COFFEE_MEETUP: (("Кофе-клуб", "Coffee Club"), ("Завтраки", "Breakfasts")),
    OrganizationForm.HACKATHON_GROUP: (("Хакатон-клуб", "Hackathon Club"), ("Митапы", "Meetups")),
    OrganizationForm.EDUCATIONAL_COMMUNITY: (("Школа", "School"), ("Академия", "Academy")),
}

# Who gathers, per industry: (ru genitive plural, en).
TOPICS: dict[str, tuple[tuple[str, str], ...]] = {
    "it": (
        ("разработчиков", "Developers"),
        ("Python-разработчиков", "Python Developers"),
        ("DevOps-инженеров", "DevOps Engineers"),
        ("тестировщиков", "QA Engineers"),
        ("аналитиков данных", "Data Analysts"),
        ("архитекторов ПО", "Software Architects"),
    ),
    "finance": (
        ("финансовых директоров", "CFOs"),
        ("риск-менеджеров", "Risk Managers"),
        ("финтех-компаний", "Fintech Companies"),
    ),
    "healthcare": (
        ("врачей", "Physicians"),
        ("медицинских сестёр", "Nurses"),
        ("цифровой медицины", "Digital Health"),
    ),
    "education": (("педагогов", "Teachers"), ("EdTech-компаний", "EdTech Companies")),
    "energy": (("энергетиков", "Power Engineers"), ("нефтяников", "Oil Industry Professionals")),
    "manufacturing": (
        ("технологов", "Process Engineers"),
        ("машиностроителей", "Machine Builders"),
    ),
    "agriculture": (("агрономов", "Agronomists"), ("фермеров", "Farmers")),
    "transport": (("логистов", "Logisticians"), ("перевозчиков", "Carriers")),
    "telecom": (
        ("операторов связи", "Telecom Operators"),
        ("сетевых инженеров", "Network Engineers"),
    ),
    "media": (("журналистов", "Journalists"), ("продюсеров", "Producers")),
    "retail": (("ритейлеров", "Retailers"), ("маркетологов", "Marketers")),
    "construction": (("строителей", "Builders"), ("архитекторов", "Architects")),
    "science": (("молодых учёных", "Young Scientists"), ("физиков", "Physicists")),
    "legal": (("юристов", "Lawyers"), ("корпоративных юристов", "In-house Counsel")),
    "biotech": (("биотехнологов", "Biotechnologists"), ("биоинформатиков", "Bioinformaticians")),
    "aerospace": (
        ("авиаинженеров", "Aerospace Engineers"),
        ("космических стартапов", "Space Startups"),
    ),
}

# What the event is, by format: (ru prefix, en suffix).
EVENT_NOUNS: dict[EventFormat, tuple[tuple[str, str], ...]] = {
    EventFormat.CONFERENCE: (("Конференция", "Conference"), ("Саммит", "Summit")),
    EventFormat.MEETUP: (("Митап", "Meetup"), ("Встреча", "Gathering")),
    EventFormat.HACKATHON: (("Хакатон", "Hackathon"), ("Чемпионат", "Championship")),
    EventFormat.EDUCATIONAL: (("Вебинар", "Webinar"), ("Интенсив", "Workshop")),
    EventFormat.SOCIAL: (("Нетворкинг", "Networking Night"), ("Завтрак", "Breakfast")),
}

STANDARD_TITLES: dict[StandardKind, tuple[tuple[str, str], ...]] = {
    StandardKind.PROFESSIONAL: (("Профессиональный стандарт", "Professional standard"),),
    StandardKind.TECHNICAL: (("Технические требования", "Technical requirements"),),
    StandardKind.ETHICAL: (("Кодекс этики", "Code of ethics"),),
    StandardKind.EDUCATIONAL: (("Образовательная программа", "Curriculum"),),
    StandardKind.QUALITY: (("Система менеджмента качества", "Quality management system"),),
}

TAGS = (
    ("нетворкинг", "networking"),
    ("карьера", "career"),
    ("open source", "open source"),
    ("стартапы", "startups"),
    ("регулирование", "regulation"),
    ("наставничество", "mentoring"),
    ("исследования", "research"),
    ("импортозамещение", "localization"),
)

_OTHER_INDUSTRIES = [code for code in INDUSTRIES if code != "it"]
# "it" as primary for 10% of communities, plus secondary picks: about 15% in all.
_PRIMARY_WEIGHTS = [10.0] + [90.0 / len(_OTHER_INDUSTRIES)] * len(_OTHER_INDUSTRIES)
_PRIMARY_CODES = ["it", *_OTHER_INDUSTRIES]
_EVENT_STATUSES = (("scheduled", 90), ("cancelled", 5), ("postponed", 3), ("moved_online", 2))
_COMMUNITY_STATUSES = (("active", 90), ("inactive", 8), ("dissolved", 2))


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


@dataclass(frozen=True)
class _Community:
    """What events and standards need to know about a generated community."""

    external_id: str
    industries: list[str]
    city: City
    form: OrganizationForm


def community_id(index: int) -> str:
    return f"c-{index:06d}"


def _industries(rng: random.Random) -> list[str]:
    primary = rng.choices(_PRIMARY_CODES, weights=_PRIMARY_WEIGHTS)[0]
    others = [code for code in INDUSTRIES if code != primary]
    return [primary, *rng.sample(others, rng.randint(0, 2))]


def _unique_name(seen: Counter[str], ru: str, en: str) -> tuple[str, str]:
    # Repeated combinations get a number, as real registries do: fewer slug clashes.
    seen[en] += 1
    if seen[en] == 1:
        return ru, en
    return f"{ru} №{seen[en]}", f"{en} No. {seen[en]}"


def _community_payload(
    rng: random.Random, index: int, seen: Counter[str]
) -> tuple[dict[str, Any], _Community]:
    form = rng.choice(list(OrganizationForm))
    industries = _industries(rng)
    city = rng.choice(CITIES)
    noun_ru, noun_en = rng.choice(FORM_NOUNS[form])
    topic_ru, topic_en = rng.choice(TOPICS[industries[0]])
    ru, en = _unique_name(
        seen, f"{noun_ru} {topic_ru} {city.ru_genitive}", f"{city.en} {topic_en} {noun_en}"
    )
    slug = slugify(en)
    tags = rng.sample(TAGS, rng.randint(1, 3))
    payload: dict[str, Any] = {
        "name": {"ru": ru, "en": en},
        "description": {
            "ru": f"{noun_ru} {topic_ru}: встречи, обмен опытом и совместные проекты.",
            "en": f"A {noun_en.lower()} of {topic_en.lower()}: meetings, shared experience "
            "and joint projects.",
        },
        "aliases": ["".join(w[0] for w in en.split() if w[0].isupper())],
        "kind": rng.choice(list(CommunityKind)).value,
        "form": form.value,
        "industries": industries,
        "countries": [
            city.country,
            *(["RU"] if city.country != "RU" and rng.random() < 0.3 else []),
        ],
        "region": city.ru,
        "city": city.ru,
        "location": {
            "lat": round(city.lat + rng.uniform(-0.1, 0.1), 4),
            "lon": round(city.lon + rng.uniform(-0.1, 0.1), 4),
        },
        "website": f"https://{slug[:50].strip('-')}.example.org",
        "channels": [
            {"type": "website", "url": f"https://{slug[:50].strip('-')}.example.org"},
            {"type": "messenger", "url": f"https://t.me/{slug.replace('-', '_')[:30]}"},
        ],
        "founded_year": rng.randint(1991, 2025) if rng.random() < 0.8 else None,
        "member_count": int(rng.lognormvariate(4.5, 1.3)) if rng.random() < 0.7 else None,
        "offers": [o.value for o in rng.sample(list(MemberOffer), rng.randint(1, 4))],
        "tags": [t[rng.randrange(2)] for t in tags],
        "status": _weighted(rng, _COMMUNITY_STATUSES),
    }
    # Only earlier communities are referenced, so nothing waits for a later batch.
    if index > 0 and rng.random() < 0.1:
        payload["member_of"] = [community_id(rng.randrange(index))]
    if index > 0 and rng.random() < 0.3:
        payload["partners"] = sorted({community_id(rng.randrange(index)) for _ in range(2)})
    return payload, _Community(community_id(index), industries, city, form)


def community_listings(
    rng: random.Random, count: int, fetched_at: datetime
) -> tuple[list[Listing], list[_Community]]:
    seen: Counter[str] = Counter()
    listings: list[Listing] = []
    communities: list[_Community] = []
    for index in range(count):
        payload, community = _community_payload(rng, index, seen)
        communities.append(community)
        listings.append(_listing("community", community.external_id, payload, fetched_at))
    return listings, communities


def _standard_payload(
    rng: random.Random, index: int, communities: Sequence[_Community]
) -> dict[str, Any]:
    kind = rng.choice(list(StandardKind))
    issuer = rng.choice(communities)
    title_ru, title_en = rng.choice(STANDARD_TITLES[kind])
    topic_ru, topic_en = rng.choice(TOPICS[issuer.industries[0]])
    year = rng.randint(2005, 2025)
    # The index in the number keeps every code (and so every slug) unique.
    code = rng.choice(
        (f"ГОСТ Р {50000 + index}-{year}", f"ISO/IEC {20000 + index}:{year}", f"СТО {index}-{year}")
    )
    # One spare pick, so that dropping the issuer still leaves 1-5 adopters.
    picked = rng.sample(communities, rng.randint(1, 5) + 1)
    adopters = [c for c in picked if c is not issuer][: len(picked) - 1]
    return {
        "code": code,
        "title": {"ru": f"{title_ru} для {topic_ru}", "en": f"{title_en} for {topic_en.lower()}"},
        "kind": kind.value,
        "status": _weighted(
            rng, (("active", 80), ("draft", 10), ("superseded", 7), ("withdrawn", 3))
        ),
        "version": str(year),
        "issuer": issuer.external_id,
        "adopters": [a.external_id for a in adopters],
        "industries": issuer.industries[:2],
        "url": f"https://standards.example.org/{slugify(code)}",
    }


def standard_listings(
    rng: random.Random, count: int, communities: Sequence[_Community], fetched_at: datetime
) -> list[Listing]:
    return [
        _listing("standard", f"s-{i:06d}", _standard_payload(rng, i, communities), fetched_at)
        for i in range(count)
    ]


def _organizers(rng: random.Random, communities: Sequence[_Community]) -> list[_Community]:
    # A minority of communities is busy: a third of events go to the first tenth.
    busy = len(communities) // 10 or 1
    first = communities[rng.randrange(busy)] if rng.random() < 0.33 else rng.choice(communities)
    if rng.random() < 0.3:
        second = rng.choice(communities)
        if second is not first:
            return [first, second]
    return [first]


KNOWN_MODES = [AttendanceMode.OFFLINE, AttendanceMode.ONLINE, AttendanceMode.MIXED]


def _event_payload(
    rng: random.Random, index: int, communities: Sequence[_Community], anchor: datetime
) -> dict[str, Any]:
    organizers = _organizers(rng, communities)
    host = organizers[0]
    event_format = rng.choice(list(EventFormat))
    # The three modes of a known place, as before UNKNOWN existed: the same seed keeps
    # making the same dataset, so runs before and after compare.
    mode = rng.choice(KNOWN_MODES)
    noun_ru, noun_en = rng.choice(EVENT_NOUNS[event_format])
    topic_ru, topic_en = rng.choice(TOPICS[host.industries[0]])
    city = host.city if rng.random() < 0.8 else rng.choice(CITIES)
    day = anchor + timedelta(days=rng.randint(-365, 365))
    # Naive wall-clock time: the payload's timezone says where it is.
    starts = day.replace(tzinfo=None, hour=rng.randint(9, 19), minute=rng.choice((0, 30)))
    long = event_format in (EventFormat.CONFERENCE, EventFormat.HACKATHON)
    ends = starts + (timedelta(days=rng.randint(1, 2)) if long else timedelta(hours=2))
    payload: dict[str, Any] = {
        "title": {
            "ru": f"{noun_ru} {topic_ru} {city.ru_genitive} #{index % 97 + 1}",
            "en": f"{city.en} {topic_en} {noun_en} #{index % 97 + 1}",
        },
        "format": event_format.value,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "timezone": city.timezone,
        "attendance_mode": mode.value,
        "status": _weighted(rng, _EVENT_STATUSES),
        "organizers": [o.external_id for o in organizers],
        "url": f"https://events.example.org/e/{index}",
        "is_free": rng.random() < 0.6,
        "languages": ["ru"] if city.country == "RU" else rng.choice((["ru", "en"], ["en"])),
        "tags": [rng.choice(TAGS)[1]],
    }
    if mode is not AttendanceMode.ONLINE:
        payload["venue"] = {
            "name": f"Площадка {rng.randint(1, 40)}",
            "city": city.ru,
            "country": city.country,
            "location": {"lat": city.lat, "lon": city.lon},
        }
    if mode is not AttendanceMode.OFFLINE:
        payload["online_url"] = f"https://stream.example.org/{index}"
    return payload


def event_listings(
    rng: random.Random,
    count: int,
    communities: Sequence[_Community],
    anchor: datetime,
    fetched_at: datetime,
) -> list[Listing]:
    return [
        _listing("event", f"e-{i:06d}", _event_payload(rng, i, communities, anchor), fetched_at)
        for i in range(count)
    ]


def _listing(
    entity: str, external_id: str, payload: dict[str, Any], fetched_at: datetime
) -> Listing:
    return Listing.model_validate(
        {
            "entity": entity,
            "source_id": SOURCE,
            "external_id": external_id,
            "payload": payload,
            "url": f"https://bench.example.org/{external_id}",
            "fetched_at": fetched_at,
        }
    )


def generate(seed: int, sizes: Sizes, anchor: datetime) -> list[tuple[str, list[Listing]]]:
    """Listings grouped in load order: communities, then standards, then events."""
    rng = random.Random(seed)
    communities, generated = community_listings(rng, sizes.communities, anchor)
    standards = standard_listings(rng, sizes.standards, generated, anchor)
    events = event_listings(rng, sizes.events, generated, anchor, anchor)
    return [("communities", communities), ("standards", standards), ("events", events)]


async def counts(db: Database) -> Sizes:
    return Sizes(
        communities=await db[COMMUNITIES].count_documents({}),
        events=await db[EVENTS].count_documents({}),
        standards=await db[STANDARDS].count_documents({}),
    )


async def load(db: Database, label: str, listings: Sequence[Listing], batch_size: int) -> float:
    """Ingest in batches, printing progress; returns the seconds spent."""
    started = time.perf_counter()
    for offset in range(0, len(listings), batch_size):
        results = await ingest(db, listings[offset : offset + batch_size])
        rejected = [r for r in results if r.outcome is Outcome.REJECTED]
        if rejected:
            raise RuntimeError(f"the generator produced invalid {label}: {rejected[:3]}")
        done = min(offset + batch_size, len(listings))
        elapsed = time.perf_counter() - started
        print(
            f"  {label}: {done}/{len(listings)} in {elapsed:.1f}s ({done / elapsed:.0f} records/s)",
            flush=True,
        )
    return time.perf_counter() - started


def anchor_day() -> datetime:
    # Midnight UTC today: the dataset only depends on the seed and the day it was made.
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
