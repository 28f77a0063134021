"""Input files for the ingestion benchmark, written record by record.

`write_registry` writes a ';'-separated registry of Russian associations the way
registries are exported (cp1251 by default, CRLF, quoted cells where a name holds
quotes or an address spans lines); `write_feed` writes an iCalendar feed of single
events in Europe/Moscow. Neither holds more than one record in memory, so the
generator itself does not hide how big the files are.

Every row has its own ОГРН, ИНН and website, and every event its own UID: no
record matches another, so a run measures ingestion, not cross-record merging.
The same seed and start moment give the same bytes.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from schema.taxonomy import INDUSTRIES
from service.documents.search_text import slugify

MOSCOW = ZoneInfo("Europe/Moscow")
FEED_DAYS_AHEAD = 300  # events start within this many days of the start moment

# --- the registry ----------------------------------------------------------------------

REGISTRY_COLUMNS = (
    "№ п/п",
    "Полное наименование",
    "Сокращенное наименование",
    "ОПФ",
    "ИНН",
    "ОГРН",
    "Дата регистрации",
    "Регион",
    "Адрес (место нахождения)",
    "Сайт",
    "Отрасль",
)

# ОПФ as the registry abbreviates it -> the full wording that opens the name.
LEGAL_FORMS = {
    "АНО": "Автономная некоммерческая организация",
    "НП": "Некоммерческое партнёрство",
    "Ассоциация": "Ассоциация",
    "Союз": "Союз",
    "АЮЛ": "Ассоциация юридических лиц",
}

# How the registry names an industry -> the taxonomy code the mapping turns it into.
INDUSTRY_NAMES = {ru: code for code, (ru, _en) in INDUSTRIES.items()}

# (region, its two-digit code, a city in it, latitude, longitude)
REGIONS = (
    ("г. Москва", "77", "Москва", 55.7558, 37.6173),
    ("г. Санкт-Петербург", "78", "Санкт-Петербург", 59.9343, 30.3351),
    ("Московская область", "50", "Химки", 55.8970, 37.4297),
    ("Республика Татарстан", "16", "Казань", 55.7961, 49.1064),
    ("Республика Башкортостан", "02", "Уфа", 54.7388, 55.9721),
    ("Свердловская область", "66", "Екатеринбург", 56.8389, 60.6057),
    ("Новосибирская область", "54", "Новосибирск", 55.0084, 82.9357),
    ("Нижегородская область", "52", "Нижний Новгород", 56.2965, 43.9361),
    ("Томская область", "70", "Томск", 56.4847, 84.9482),
    ("Самарская область", "63", "Самара", 53.1959, 50.1002),
    ("Краснодарский край", "23", "Краснодар", 45.0355, 38.9753),
    ("Пермский край", "59", "Пермь", 58.0105, 56.2502),
    ("Калужская область", "40", "Калуга", 54.5293, 36.2754),
    ("Приморский край", "25", "Владивосток", 43.1155, 131.8855),
    ("Калининградская область", "39", "Калининград", 54.7104, 20.4522),
    ("Ростовская область", "61", "Ростов-на-Дону", 47.2357, 39.7015),
    ("Воронежская область", "36", "Воронеж", 51.6720, 39.1843),
    ("Красноярский край", "24", "Красноярск", 56.0153, 92.8932),
)

WHO = (
    "разработчиков программного обеспечения",
    "производителей медицинских изделий",
    "энергетических компаний",
    "предприятий машиностроения",
    "участников рынка телекоммуникаций",
    "организаций дополнительного образования",
    "операторов логистики",
    "строительных организаций",
    "фермерских хозяйств",
    "финансовых технологий",
    "независимых медиа",
    "биотехнологических компаний",
    "предприятий авиакосмической отрасли",
    "исследовательских центров",
    "юридических фирм",
    "ритейлеров",
)
BRANDS = (
    "Прогресс", "Содружество", "Горизонт", "Вектор", "Импульс", "Меридиан", "Кристалл",
    "Созвездие", "Северный путь", "Открытый код", "Цифровой регион", "Технопарк",
    "Новые кадры", "Развитие", "Инициатива", "Точка роста", "Партнёрство", "Квант",
)  # fmt: skip
STREETS = (
    "ул. Ленина", "ул. Тверская", "пр-т Мира", "ул. Гагарина", "наб. Реки Мойки",
    "ул. Советская", "Большой Саввинский пер.", "ул. Профсоюзная", "ул. Садовая",
)  # fmt: skip


def ogrn(serial: int, year: int, region: str) -> str:
    """A well-formed ОГРН: 1 (legal entity), year, region, 7-digit serial, check digit."""
    body = f"1{year % 100:02d}{region}{serial % 10**7:07d}"[:12]
    return body + str(int(body) % 11 % 10)


def inn(serial: int, region: str) -> str:
    """A well-formed 10-digit ИНН of a legal entity (region, inspection, serial, check)."""
    body = f"{region}{serial // 100_000 % 100:02d}{serial % 100_000:05d}"
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11 % 10
    return body + str(check)


def registry_rows(count: int, seed: int) -> Iterator[list[str]]:
    """The registry's data rows, one at a time."""
    rng = random.Random(seed)
    industries = list(INDUSTRY_NAMES)
    for number in range(1, count + 1):
        opf = rng.choice(list(LEGAL_FORMS))
        region, code, city, _lat, _lon = rng.choice(REGIONS)
        brand = rng.choice(BRANDS)
        who = rng.choice(WHO)
        if opf == "НП":
            # Quotes inside a cell: the exporter doubles them and quotes the cell.
            name = f'{LEGAL_FORMS[opf]} "{brand}" {who}'
        else:
            name = f"{LEGAL_FORMS[opf]} {who} «{brand}»"
        short = f"{opf} «{brand}»"
        registered = datetime(rng.randint(1995, 2024), rng.randint(1, 12), rng.randint(1, 28))
        street = f"{rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
        if rng.random() < 0.02:
            address = f"г. {city},\n{street},\nофис № {rng.randint(1, 400)}"  # a multi-line cell
        else:
            address = f"г. {city}, {street}"
        domain = f"{slugify(brand)[:30]}-{number}"  # the number keeps every site distinct
        site = f"https://{domain}.ru" if rng.random() < 0.5 else f"http://www.{domain}.org"
        picked = rng.sample(industries, rng.randint(1, 3))
        yield [
            str(number),
            name,
            short,
            opf,
            inn(number, code),
            ogrn(number, registered.year, code),
            registered.strftime("%d.%m.%Y"),
            region,
            address,
            site,
            ", ".join(picked),
        ]


def write_registry(path: Path, count: int, seed: int, encoding: str = "cp1251") -> int:
    """Write the header and `count` rows; returns the file size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(REGISTRY_COLUMNS)
        for row in registry_rows(count, seed):
            writer.writerow(row)
    return path.stat().st_size


def registry_mapping() -> dict[str, object]:
    """The source's mapping (connectors.framework.mapping.FieldMapping) over its columns."""
    return {
        "entity": "community",
        "external_id": "ОГРН",
        "fields": {
            "name.ru": "Полное наименование",
            # `split` on a character absent from the cell wraps the short name in a list.
            "aliases": {"source": "Сокращенное наименование", "split": "|"},
            "form": {"source": "ОПФ", "values": dict.fromkeys(LEGAL_FORMS, "association")},
            "kind": {"value": "national"},
            "countries": {"value": ["RU"]},
            "region": "Регион",
            "website": "Сайт",
            "industries": {"source": "Отрасль", "split": ",", "values": INDUSTRY_NAMES},
            "identifiers.inn": "ИНН",
            "identifiers.ogrn": "ОГРН",
        },
    }


# --- the feed --------------------------------------------------------------------------

EVENT_KINDS = (
    ("Конференция", "Конференции"),
    ("Митап", "Митапы"),
    ("Хакатон", "Хакатоны"),
    ("Вебинар", "Вебинары"),
    ("Круглый стол", "Круглые столы"),
    ("Завтрак", "Нетворкинг"),
)
THEMES = (
    "импортозамещение ПО", "цифровая медицина", "энергоэффективность", "кадры для отрасли",
    "открытые данные", "умное производство", "логистика последней мили", "агротех",
    "информационная безопасность", "нормативное регулирование", "экспорт технологий",
)  # fmt: skip
VENUES = (
    "Точка кипения", "Технопарк", "Деловой центр", "Конгресс-холл", "Коворкинг «Старт»",
    "Университет, главный корпус", "Дом журналистов", "Экспоцентр",
)  # fmt: skip
FEED_HEADER = (
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//guildgraph bench//ingest feed//RU",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    "X-WR-CALNAME:Отраслевые события",
    "X-WR-TIMEZONE:Europe/Moscow",
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Moscow",
    "BEGIN:STANDARD",
    "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0300",
    "TZOFFSETTO:+0300",
    "TZNAME:MSK",
    "END:STANDARD",
    "END:VTIMEZONE",
)


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    stamp: datetime
    starts: datetime  # Moscow wall time
    ends: datetime
    summary: str
    location: str
    geo: tuple[float, float] | None
    url: str
    description: str
    categories: tuple[str, ...]


def escape_text(value: str) -> str:
    """An RFC 5545 TEXT value: backslash, ';', ',' and line breaks escaped."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """A content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    data = line.encode()
    parts: list[bytes] = []
    start, limit = 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: the character began earlier
            end -= 1
        parts.append(data[start:end])
        start, limit = end, 74  # continuation lines start with a space
    parts.append(data[start:])
    return "\r\n ".join(part.decode() for part in parts) + "\r\n"


def feed_events(count: int, seed: int, start: datetime) -> Iterator[FeedEvent]:
    """Single events starting between 1 and FEED_DAYS_AHEAD days after `start`."""
    rng = random.Random(seed + 1)
    first_day = start.astimezone(MOSCOW).date() + timedelta(days=1)
    for number in range(1, count + 1):
        kind, category = rng.choice(EVENT_KINDS)
        theme = rng.choice(THEMES)
        who = rng.choice(WHO)
        _region, _code, city, lat, lon = rng.choice(REGIONS)
        day = first_day + timedelta(days=rng.randrange(FEED_DAYS_AHEAD - 1))
        starts = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 30)))
        venue = rng.choice(VENUES)
        mode = rng.random()
        if mode < 0.8:
            location = f"{venue}, {rng.choice(STREETS)}, {rng.randint(1, 90)}, {city}, Россия"
            geo: tuple[float, float] | None = (
                round(lat + rng.uniform(-0.05, 0.05), 6),
                round(lon + rng.uniform(-0.05, 0.05), 6),
            )
        elif mode < 0.95:
            location, geo = "Онлайн", None
        else:
            location, geo = "Гибридный формат", None
        yield FeedEvent(
            uid=f"ev-{seed}-{number:07d}@events.bench.example",
            stamp=start,
            starts=starts,
            ends=starts + timedelta(hours=rng.choice((1, 2, 3, 8))),
            summary=f"{kind} {who}: {theme}",
            location=location,
            geo=geo,
            url=f"https://events.bench.example/e/{number}",
            description=(
                f"{kind} для {who}. Тема: {theme}; доклады, дискуссия и вопросы из зала.\n"
                f"Участие бесплатное, регистрация обязательна. Город: {city}."
            ),
            categories=(category, theme),
        )


def event_lines(event: FeedEvent) -> Iterator[str]:
    yield "BEGIN:VEVENT"
    yield f"UID:{event.uid}"
    yield f"DTSTAMP:{event.stamp:%Y%m%dT%H%M%SZ}"
    yield f"DTSTART;TZID=Europe/Moscow:{event.starts:%Y%m%dT%H%M%S}"
    yield f"DTEND;TZID=Europe/Moscow:{event.ends:%Y%m%dT%H%M%S}"
    yield f"SUMMARY;LANGUAGE=ru:{escape_text(event.summary)}"
    yield f"LOCATION:{escape_text(event.location)}"
    if event.geo is not None:
        yield f"GEO:{event.geo[0]};{event.geo[1]}"
    yield f"URL:{event.url}"
    yield f"CATEGORIES:{','.join(escape_text(c) for c in event.categories)}"
    yield f"DESCRIPTION:{escape_text(event.description)}"
    yield "STATUS:CONFIRMED"
    yield "END:VEVENT"


def write_feed(path: Path, count: int, seed: int, start: datetime) -> int:
    """Write the calendar with `count` events; returns the file size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(fold(line) for line in FEED_HEADER)
        for event in feed_events(count, seed, start):
            out.writelines(fold(line) for line in event_lines(event))
        out.write(fold("END:VCALENDAR"))
    return path.stat().st_size


def feed_config(url: str) -> dict[str, object]:
    """The source's IcsFeedConfig: a window wide enough that every event is emitted."""
    return {
        "url": url,
        # A year back keeps a reused file (--reuse-files) whole for months.
        "window_days_back": 365,
        "window_days_ahead": FEED_DAYS_AHEAD + 60,
        "organizers": [],
        "language": "ru",
        "default_timezone": "Europe/Moscow",
        "format_rules": [
            {"format": "conference", "keywords": ["Конференция", "Круглый стол"]},
            {"format": "hackathon", "keywords": ["Хакатон"]},
            {"format": "educational", "keywords": ["Вебинар"]},
            {"format": "social", "keywords": ["Завтрак", "Нетворкинг"]},
        ],
    }
