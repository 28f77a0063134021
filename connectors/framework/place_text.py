"""A place written as one line of text -> its city and country, when the text says them.

Calendars (iCalendar LOCATION), feeds and pages write a place as free text. The
shapes read here are the usual ones:

    Москва, ул. Льва Толстого, 16                 city first, then the street (Russian)
    119021, г. Москва, ул. Тимура Фрунзе, 11      a postcode, a marked city ("г.", "город")
    Novosibirsk, Russia                           a city and a country
    Station Berlin, Luckenwalder Str. 4-6, 10963 Berlin, Germany
    Xomnia (Raamstraat 7, Amsterdam, NH, Netherlands 1016 XL)   Meetup's "Name (address)"
    Venue, Street 1, Rotterdam, South Holland, 3062 PA, Netherlands

The country is the first or the last part, when it names one (connectors.framework.
countries: any language ISO's names are translated into, or a code). The city is, in
order: a part marked as a city; the part after the street in the Western order
("street number, [postcode] city"); the part before a street written the Russian way
("город, ул. ..."); the one part left beside a country. A text that shows none of
these shapes ("Main hall", "Samara Hub") gives no city: nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycountry

from connectors.framework.countries import country_code

# A street written the Russian way starts with its type.
_RU_STREET = re.compile(
    r"^(?:ул|улица|пр|пр-т|просп|проспект|пер|переулок|наб|набережная|ш|шоссе|б-р|бульвар"
    r"|пл|площадь|проезд|пр-д|туп|тупик|аллея|мкр|микрорайон|км)(?:\.|\s)",
    re.IGNORECASE,
)
# Western street types, as a word or a word's end ("Kurfürstenstraße", "Goudsesingel").
_WEST_STREET = re.compile(
    r"(?:straat|str\.|straße|strasse|street|road|avenue|laan|weg|gracht|plein|kade|singel"
    r"|boulevard|platz|allee|lane|drive)\b|\b(?:st|rd|ave|blvd|dr)\.?$",
    re.IGNORECASE,
)
_RU_STREET_END = re.compile(
    r"\s(?:ул|улица|пр|пр-т|просп|проспект|пер|переулок|наб|набережная|ш|шоссе|б-р|бульвар"
    r"|пл|площадь|проезд|пр-д|тупик|аллея)\.?$",
    re.IGNORECASE,
)
# A house number: up to three digits, maybe with a letter or a range ("12a", "4-6").
_HOUSE_NUMBER = re.compile(r"(?<!\w)\d{1,3}(?:[^\W\d_]|[-/]\d{1,3})?(?![\w-])")
_LONG_NUMBER = re.compile(r"\d{4,}")
_CITY_MARK = re.compile(r"^(?:г\.|г\s|город\s|city of\s)\s*(?P<city>.+)$", re.IGNORECASE)
# Postcodes: "1098 XG", "10963", "119021", "75001", "D08 TCV4", "SW1A 1AA".
_POSTCODE = re.compile(r"\b\d{4}\s?[A-Z]{2}\b|\b\d[\d\s-]{2,}\d\b|\b\d{3,}\b|\b[A-Z]*\d[A-Z\d]*\b")
_HAS_DIGIT = re.compile(r"\d")
_REGION_CODE = re.compile(r"^[A-ZА-Я]{2,3}$")
# Words that make a part a venue's name, not a city ("Технопарк", "Berlin Office").
_VENUE_WORDS = re.compile(
    r"\b(?:технопарк|офис|центр|бц|тц|кафе|бар|коворкинг|отель|гостиница|университет"
    r"|институт|зал|клуб|кампус|hub|office|center|centre|campus|university|hotel|hall"
    r"|building|cafe|café|bar|pub|club|room|floor|library)",
    re.IGNORECASE,
)
_QUOTES = re.compile(r"[«»\"“”„]")
MAX_CITY_WORDS = 3


@dataclass(frozen=True)
class PlaceText:
    city: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2


def _parts(text: str) -> list[str]:
    return [p for p in (" ".join(part.split()) for part in re.split(r"[,;()]", text)) if p]


def _without_postcode(part: str) -> str:
    return " ".join(_POSTCODE.sub(" ", part).split()).strip(" -")


def _is_postcode(part: str) -> bool:
    return bool(_HAS_DIGIT.search(part)) and not _without_postcode(part)


def _is_russian_street(part: str) -> bool:
    return bool(_RU_STREET.match(part) or _RU_STREET_END.search(part))


def _is_street(part: str) -> bool:
    if _is_russian_street(part) or _WEST_STREET.search(part):
        return True
    # "Science Park 123", "497 Rogers Ave": words and a house number; "10963 Berlin"
    # and "Netherlands 1098 XG" carry a postcode instead.
    letters = re.search(r"[^\W\d_]", part)
    return bool(letters and _HOUSE_NUMBER.search(part)) and not _LONG_NUMBER.search(part)


def _country_part(part: str) -> str | None:
    name = _without_postcode(part)
    if not name or _HAS_DIGIT.search(name):
        return None
    if re.fullmatch(r"[A-Za-z]{2}", name):
        # Two letters after a city are as often a US state as a country ("Austin, TX",
        # "Denver, CO"): a code that is also a state code is not read as a country.
        if _us_state(name.upper()):
            return None
    return country_code(name)


def _us_state(code: str) -> bool:
    found: object = pycountry.subdivisions.get(code=f"US-{code}")  # type: ignore[no-untyped-call]
    return found is not None


def _city_like(part: str) -> str | None:
    city = _without_postcode(part)
    if (
        not city
        or _HAS_DIGIT.search(city)
        or _QUOTES.search(city)
        or _VENUE_WORDS.search(city)
        or _REGION_CODE.match(city)
        or len(city.split()) > MAX_CITY_WORDS
        or _is_russian_street(city)
        or _WEST_STREET.search(city)
    ):
        return None
    return city


def read_place(text: str) -> PlaceText:
    """City and country of a place written as text (see the module docstring)."""
    parts = _parts(text)
    if not parts:
        return PlaceText()
    country = None
    if len(parts) > 1:
        for index in (len(parts) - 1, 0):
            found = _country_part(parts[index])
            if found is not None:
                country = found
                parts = parts[:index] + parts[index + 1 :]
                break
    return PlaceText(city=_city(parts, with_country=country is not None), country=country)


def _city(parts: list[str], *, with_country: bool) -> str | None:
    for part in parts:
        marked = _CITY_MARK.match(part)
        if marked:
            return _city_like(marked["city"])
    streets = [i for i, part in enumerate(parts) if _is_street(part)]
    if streets:
        first, last = streets[0], streets[-1]
        if _is_russian_street(parts[first]):
            # "Москва, ул. ...": the city before the street, first or after a postcode.
            before = [p for p in parts[:first] if not _is_postcode(p)]
            if len(before) == 1:
                return _city_like(before[0])
        for part in parts[last + 1 :]:
            if _is_postcode(part):
                continue
            return _city_like(part)
        return None
    rest = [p for p in parts if not _is_postcode(p)]
    if with_country and rest:
        # "Novosibirsk, Russia"; "Venue, Amsterdam, Netherlands".
        return _city_like(rest[-1])
    if len(rest) > 1 and _POSTCODE.search(parts[-1]):
        return _city_like(parts[-1])  # "Venue, 1017 CT Amsterdam"
    return None
