"""The matching evaluation set: records of simulated sources with ground-truth clusters.

Deterministic for a seed. Communities come from three sources that describe the same
organisations differently, the way real ones do:

  registry-ru   the legal name in Russian, with its legal form (АНО, НП, «quotes»),
                ИНН, city in Russian, sometimes the website
  partner-en    the English name (word order varies, some typos), the website as
                typed (www., /en, trailing slash), city in English, sometimes the ИНН
  cluster       a cluster's member list: the abbreviation, the name transliterated to
                Latin, or the short Russian name (some typos); website, sometimes ИНН

and hard negatives that must stay apart: a regional chapter on its national body's
domain path, clubs with one name in different cities, a university's club listed
under the university's ИНН, two organisations with one acronym.

Events come from a calendar (UTC, Russian titles, iCalendar UIDs), an event page
(English titles, local Moscow time) and a partner (either language, sometimes a
start 30 minutes off, some UIDs), with hard negatives: a weekly meetup's
occurrences, two events at one venue on one day, one title in two cities on one day.

`records(seed)` returns every listing with the id of the real-world entity it
describes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schema.models import Listing
from schema.taxonomy import EntityType

MOSCOW = ZoneInfo("Europe/Moscow")
FETCHED = datetime(2026, 5, 1, tzinfo=UTC)

# (genitive plural in Russian, English)
GROUPS = (
    ("разработчиков", "Developers"),
    ("программистов", "Programmers"),
    ("инженеров", "Engineers"),
    ("исследователей", "Researchers"),
    ("предпринимателей", "Entrepreneurs"),
    ("аналитиков", "Analysts"),
    ("дизайнеров", "Designers"),
    ("специалистов", "Specialists"),
    ("лидеров", "Leaders"),
    ("инвесторов", "Investors"),
)
# (genitive in Russian, English)
TOPICS = (
    ("игр", "Game"),
    ("искусственного интеллекта", "Artificial Intelligence"),
    ("информационной безопасности", "Information Security"),
    ("финансовых технологий", "Financial Technology"),
    ("цифровой экономики", "Digital Economy"),
    ("машинного обучения", "Machine Learning"),
    ("облачных вычислений", "Cloud Computing"),
    ("мобильных приложений", "Mobile Apps"),
    ("робототехники", "Robotics"),
    ("медицинских технологий", "Medical Technology"),
    ("промышленного дизайна", "Industrial Design"),
    ("анализа данных", "Data Analysis"),
    ("космических технологий", "Space Technology"),
    ("электроники", "Electronics"),
    ("энергетики", "Energy"),
    ("биотехнологий", "Biotech"),
    ("логистики", "Logistics"),
)
# (registry's legal form in the name, English word)
LEGAL = (
    ("Ассоциация", "Association"),
    ("Союз", "Union"),
    ("АНО «Сообщество", "Community"),
    ("НП «Клуб", "Club"),
)
CITIES = (
    ("Москва", "Moscow"),
    ("Санкт-Петербург", "St. Petersburg"),
    ("Казань", "Kazan"),
    ("Новосибирск", "Novosibirsk"),
    ("Екатеринбург", "Yekaterinburg"),
    ("Нижний Новгород", "Nizhny Novgorod"),
)
FORMATS = (
    ("Митап", "Meetup", "meetup"),
    ("Конференция", "Conference", "conference"),
    ("Хакатон", "Hackathon", "hackathon"),
    ("Семинар", "Seminar", "educational"),
    ("Форум", "Forum", "conference"),
)
VENUES = ("Технопарк", "Точка кипения", "Цифровое деловое пространство", "Коворкинг Старт")

_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya",
    }
)  # fmt: skip
_LEGAL_LATIN = {"Ассоциация": "Assotsiatsiya", "Союз": "Soyuz"}


@dataclass(frozen=True)
class Record:
    listing: Listing
    truth: str


def typo(rng: random.Random, text: str) -> str:
    """One slip of the keyboard in a word of four letters or more."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5]
    if not long:
        return text
    i = rng.choice(long)
    word = words[i]
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        word = word[:at] + word[at + 1 :]
    elif kind == 1:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    else:
        word = word[:at] + word[at] + word[at:]
    words[i] = word
    return " ".join(words)


def latin(text: str) -> str:
    out = []
    for word in text.split(" "):
        lower = word.lower().translate(_TRANSLIT)
        out.append(lower.capitalize() if word[:1].isupper() else lower)
    return " ".join(out)


@dataclass
class Org:
    key: str
    group: tuple[str, str]
    topic: tuple[str, str]
    legal: tuple[str, str]
    city: tuple[str, str]
    inn: str
    domain: str
    kind: str = "professional"
    form: str = "association"

    @property
    def core_ru(self) -> str:
        return f"{self.group[0]} {self.topic[0]}"

    @property
    def name_ru(self) -> str:
        legal = self.legal[0]
        if "«" in legal:
            return f"{legal} {self.core_ru}»"
        return f"{legal} {self.core_ru}"

    @property
    def acronym(self) -> str:
        words = [w for w in self.name_ru.replace("«", "").replace("»", "").split(" ")]
        if words[0] in {"АНО", "НП"}:
            words = words[1:]
        return "".join(w[0] for w in words).upper()

    def name_en(self, rng: random.Random) -> str:
        topic, group, legal = self.topic[1], self.group[1], self.legal[1]
        if rng.random() < 0.3:
            return f"{legal} of {topic} {group}"
        return f"{topic} {group} {legal}"


def _community(org: Org, name: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": org.kind, "form": org.form, "countries": ["RU"], **extra}


def _listing(entity: EntityType, source: str, external_id: str, payload: dict[str, Any],
             **extra: Any) -> Listing:  # fmt: skip
    return Listing(
        entity=entity,
        source_id=source,
        external_id=external_id,
        payload=payload,
        fetched_at=FETCHED,
        **extra,
    )


def _site(rng: random.Random, domain: str) -> str:
    return rng.choice(
        (f"https://{domain}", f"https://www.{domain}/", f"http://{domain}/en", f"https://{domain}/")
    )


def _orgs(rng: random.Random, count: int) -> list[Org]:
    combos = [(g, t) for g in GROUPS for t in TOPICS]
    rng.shuffle(combos)
    orgs = []
    for n, (group, topic) in enumerate(combos[:count]):
        legal = rng.choice(LEGAL)
        form = "professional_group" if legal[1] == "Club" else "association"
        orgs.append(
            Org(
                key=f"org-{n}",
                group=group,
                topic=topic,
                legal=legal,
                city=rng.choice(CITIES),
                inn=f"77{n:08d}",
                domain=f"{latin(topic[0]).split(' ')[0][:8]}-{n}.ru",
                kind=rng.choice(("professional", "national", "specialized")),
                form=form,
            )
        )
    return orgs


def _registry(rng: random.Random, org: Org, external_id: str, **extra: Any) -> Listing:
    name = org.name_ru if rng.random() < 0.9 else org.name_ru.replace("«", '"').replace("»", '"')
    payload = _community(org, {"ru": name}, city=org.city[0] if rng.random() < 0.95 else None)
    if rng.random() < 0.9:
        payload["identifiers"] = [{"scheme": "inn", "value": org.inn}]
    if rng.random() < 0.6:
        payload["website"] = _site(rng, org.domain)
    payload.update(extra)
    return _listing(EntityType.COMMUNITY, "registry-ru", external_id, _clean(payload))


def _partner(rng: random.Random, org: Org, external_id: str, **extra: Any) -> Listing:
    name = org.name_en(rng)
    if rng.random() < 0.15:
        name = typo(rng, name)
    payload = _community(org, {"en": name})
    if rng.random() < 0.85:
        payload["website"] = _site(rng, org.domain)
    if rng.random() < 0.75:
        payload["city"] = org.city[1]
    if rng.random() < 0.3:
        payload["identifiers"] = [{"scheme": "inn", "value": org.inn}]
    payload.update(extra)
    return _listing(EntityType.COMMUNITY, "partner-en", external_id, _clean(payload))


def _cluster(rng: random.Random, org: Org, external_id: str) -> Listing:
    style = rng.random()
    if style < 0.35:
        name = org.acronym
    elif style < 0.6:
        legal = _LEGAL_LATIN.get(org.legal[0], "")
        name = latin(f"{org.core_ru}").capitalize()
        name = f"{legal} {name}".strip()
    else:
        name = org.core_ru.capitalize()
        if rng.random() < 0.15:
            name = typo(rng, name)
    payload = _community(org, {"ru": name})
    if rng.random() < 0.8:
        payload["website"] = _site(rng, org.domain)
    if rng.random() < 0.5:
        payload["identifiers"] = [{"scheme": "inn", "value": org.inn}]
    if rng.random() < 0.5:
        payload["city"] = org.city[0]
    return _listing(EntityType.COMMUNITY, "cluster", external_id, _clean(payload))


def _clean(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


def communities(rng: random.Random, count: int = 135) -> list[Record]:
    orgs = _orgs(rng, count)
    records: list[Record] = []
    for org in orgs:
        sources = [s for s, p in (("r", 0.85), ("p", 0.75), ("c", 0.6)) if rng.random() < p]
        if len(sources) < 2:
            sources = ["r", "p"]
        for source in sources:
            ext = f"{source}-{org.key}"
            make = {"r": _registry, "p": _partner, "c": _cluster}[source]
            records.append(Record(make(rng, org, ext), org.key))
    records += _chapters(rng, orgs[:8])
    records += _same_name_clubs(rng)
    records += _university_clubs(rng)
    return records


def _chapters(rng: random.Random, parents: list[Org]) -> list[Record]:
    """A regional chapter on its national body's domain path, in another city."""
    found = []
    for org in parents:
        key = f"{org.key}-spb"
        city = CITIES[1] if org.city != CITIES[1] else CITIES[0]
        ru = f"Региональное отделение {org.name_ru.replace('Ассоциация', 'Ассоциации')}"
        en = f"{org.topic[1]} {org.group[1]} {org.legal[1]}, {city[1]} Chapter"
        site = f"https://{org.domain}/{latin(city[0]).lower()[:3]}"
        registry = _community(
            org,
            {"ru": f"{ru} в г. {city[0]}"},
            city=city[0],
            website=site,
            member_of=[f"r-{org.key}"],
        )
        partner = _community(org, {"en": en}, city=city[1], website=site)
        found.append(
            Record(_listing(EntityType.COMMUNITY, "registry-ru", f"r-{key}", registry), key)
        )
        found.append(Record(_listing(EntityType.COMMUNITY, "partner-en", f"p-{key}", partner), key))
    del rng
    return found


def _same_name_clubs(rng: random.Random) -> list[Record]:
    """One club name in several cities: one entity per city."""
    found = []
    for n, (topic_ru, topic_en) in enumerate(TOPICS[:6]):
        for city_ru, city_en in rng.sample(CITIES, 2):
            key = f"club-{n}-{city_en}"
            ru = {"ru": f"Клуб {topic_ru}"}
            en = {"en": f"{topic_en} Club"}
            base = {"kind": "professional", "form": "professional_group", "countries": ["RU"]}
            a = {**base, "name": ru, "city": city_ru}
            b = {**base, "name": en, "city": city_en}
            found.append(Record(_listing(EntityType.COMMUNITY, "registry-ru", f"r-{key}", a), key))
            found.append(Record(_listing(EntityType.COMMUNITY, "partner-en", f"p-{key}", b), key))
    return found


def _university_clubs(rng: random.Random) -> list[Record]:
    """A university and its club, the club listed under the university's ИНН."""
    found = []
    for n, (_topic_ru, topic_en) in enumerate(TOPICS[6:11]):
        city_ru, city_en = CITIES[n % len(CITIES)]
        inn = f"50{n:08d}"
        uni_ru = f"Технический университет {city_ru}"
        uni = {
            "name": {"ru": uni_ru},
            "kind": "specialized",
            "form": "educational_community",
            "city": city_ru,
            "identifiers": [{"scheme": "inn", "value": inn}],
            "website": f"https://tu-{n}.edu.ru",
        }
        club = {
            "name": {"en": f"Technical University {topic_en} Student Club"},
            "kind": "professional",
            "form": "professional_group",
            "city": city_en,
            "identifiers": [{"scheme": "inn", "value": inn}],
            "website": f"https://tu-{n}.edu.ru/clubs/{n}",
        }
        uni_b = {**uni, "name": {"ru": f"{uni_ru} (ТУ)"}, "website": f"https://www.tu-{n}.edu.ru/"}
        found.append(
            Record(_listing(EntityType.COMMUNITY, "registry-ru", f"r-uni-{n}", uni), f"uni-{n}")
        )
        found.append(
            Record(_listing(EntityType.COMMUNITY, "cluster", f"c-uni-{n}", uni_b), f"uni-{n}")
        )
        found.append(
            Record(
                _listing(EntityType.COMMUNITY, "partner-en", f"p-club-{n}", club), f"uni-club-{n}"
            )
        )
    del rng
    return found


# --- events ----------------------------------------------------------------------------


@dataclass
class Happening:
    key: str
    title_ru: str
    title_en: str
    fmt: str
    starts: datetime  # UTC
    city: tuple[str, str] | None  # None: online
    venue: str | None


def _event_payload(h: Happening, title: dict[str, str], starts: str, tz: str,
                   city_lang: int) -> dict[str, Any]:  # fmt: skip
    payload: dict[str, Any] = {"title": title, "format": h.fmt, "starts_at": starts, "timezone": tz}
    if h.city is None:
        payload["attendance_mode"] = "online"
        payload["online_url"] = f"https://meet.example/{h.key}"
    else:
        payload["attendance_mode"] = "offline"
        payload["venue"] = {"name": h.venue, "city": h.city[city_lang], "country": "RU"}
    return payload


def _calendar(rng: random.Random, h: Happening) -> Listing:
    title = {"ru": h.title_ru if rng.random() < 0.9 else typo(rng, h.title_ru)}
    payload = _event_payload(h, title, h.starts.strftime("%Y-%m-%dT%H:%M:%SZ"), "UTC", 0)
    return _listing(
        EntityType.EVENT, "calendar", f"cal-{h.key}", payload, match_keys=[f"ics-uid:{h.key}@cal"]
    )


def _page(rng: random.Random, h: Happening) -> Listing:
    local = h.starts.astimezone(MOSCOW).replace(tzinfo=None)
    title = {"en": h.title_en if rng.random() < 0.85 else typo(rng, h.title_en)}
    payload = _event_payload(h, title, local.isoformat(), "Europe/Moscow", 1)
    return _listing(EntityType.EVENT, "event-page", f"page-{h.key}", payload)


def _partner_event(rng: random.Random, h: Happening) -> Listing:
    shift = timedelta(minutes=30) if rng.random() < 0.2 else timedelta()
    starts = (h.starts + shift).astimezone(MOSCOW).isoformat()
    title = {"ru": h.title_ru} if rng.random() < 0.5 else {"en": h.title_en}
    payload = _event_payload(h, title, starts, "Europe/Moscow", 0)
    keys = [f"ics-uid:{h.key}@cal"] if rng.random() < 0.3 else []
    return _listing(EntityType.EVENT, "partner-events", f"pe-{h.key}", payload, match_keys=keys)


def _happenings(rng: random.Random, count: int) -> list[Happening]:
    found = []
    day0 = datetime(2026, 6, 1, tzinfo=UTC)
    combos = [(g, t, f) for g in GROUPS for t in TOPICS for f in FORMATS]
    rng.shuffle(combos)
    for n, (group, topic, fmt) in enumerate(combos[:count]):
        starts = day0 + timedelta(days=rng.randrange(120), hours=rng.randrange(6, 16))
        city = None if rng.random() < 0.25 else rng.choice(CITIES)
        found.append(
            Happening(
                f"ev-{n}",
                f"{fmt[0]} {group[0]} {topic[0]}",
                f"{topic[1]} {group[1]} {fmt[1]}",
                fmt[2],
                starts,
                city,
                rng.choice(VENUES) if city else None,
            )
        )
    return found


def _weekly(rng: random.Random) -> list[Happening]:
    """Weekly meetups: same title and place, one occurrence a week."""
    found = []
    for n, (topic_ru, topic_en) in enumerate(TOPICS[:5]):
        city = rng.choice(CITIES)
        first = datetime(2026, 7, 2, 16, 0, tzinfo=UTC) + timedelta(days=n)
        for week in range(4):
            found.append(
                Happening(
                    f"weekly-{n}-{week}",
                    f"Еженедельный митап {topic_ru}",
                    f"Weekly {topic_en} Meetup",
                    "meetup",
                    first + timedelta(weeks=week),
                    city,
                    VENUES[n % len(VENUES)],
                )
            )
    return found


def _same_day(rng: random.Random) -> list[Happening]:
    """Two events at one venue on one day; one title in two cities on one day."""
    found = []
    for n in range(3):
        day = datetime(2026, 9, 10 + n, 7, 0, tzinfo=UTC)
        (g1, t1), (g2, t2) = (GROUPS[n], TOPICS[n]), (GROUPS[n + 3], TOPICS[n + 5])
        for m, (group, topic, hours) in enumerate(((g1, t1, 0), (g2, t2, 6))):
            found.append(
                Happening(
                    f"venue-{n}-{m}",
                    f"Семинар {group[0]} {topic[0]}",
                    f"{topic[1]} {group[1]} Seminar",
                    "educational",
                    day + timedelta(hours=hours),
                    CITIES[0],
                    VENUES[0],
                )
            )
        for m, city in enumerate(rng.sample(CITIES, 2)):
            found.append(
                Happening(
                    f"twin-{n}-{m}",
                    f"Митап {g1[0]} {t2[0]}",
                    f"{t2[1]} {g1[1]} Meetup",
                    "meetup",
                    day + timedelta(hours=9),
                    city,
                    VENUES[1],
                )
            )
    return found


def event_records(rng: random.Random, count: int = 40) -> list[Record]:
    records: list[Record] = []
    for h in _happenings(rng, count) + _weekly(rng) + _same_day(rng):
        makers = [m for m, p in ((_calendar, 0.9), (_page, 0.8), (_partner_event, 0.6))
                  if rng.random() < p]  # fmt: skip
        if len(makers) < 2:
            makers = [_calendar, _page]
        records += [Record(make(rng, h), h.key) for make in makers]
    return records


def records(seed: int = 13) -> tuple[list[Record], list[Record]]:
    """(community records, event records), in the order the sources deliver them."""
    rng = random.Random(seed)
    return communities(rng), event_records(rng)
