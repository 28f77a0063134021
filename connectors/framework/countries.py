"""Country names as sources write them -> ISO 3166-1 alpha-2 codes.

The names come from pycountry: ISO 3166-1's names (short, official, common) and the
translations of Debian's iso-codes into ~160 languages, so "Ireland", "Германия",
"Deutschland", "Allemagne" and "Нидерланды" all resolve without a table of ours.
Codes are accepted too ("DE", "de", "DEU"). On top sits `EVERYDAY_NAMES`: names
people write that are no ISO name in any language ("Россия", "USA", "UK").

A name resolves when it is unambiguous: a translation that means two countries in
two languages is dropped, unless a more trusted tier (ISO's English names and the
everyday names, then the region's languages) settles it. A name that does not
resolve is None: the caller keeps it as a warning, never drops it silently.
"""

from __future__ import annotations

import functools
import gettext
import re
from pathlib import Path

import pycountry

# Everyday names that are not an ISO 3166 name in any language pycountry carries.
EVERYDAY_NAMES = {
    "россия": "RU",
    "рф": "RU",
    "usa": "US",
    "америка": "US",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "великобритания": "GB",
    "англия": "GB",
    "turkey": "TR",
    "holland": "NL",
    "голландия": "NL",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "burma": "MM",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
    "east timor": "TL",
}
# Languages read before all the others: a name in one of them wins over a
# different meaning of the same spelling in a language further away.
FIRST_LANGUAGES = ("ru", "de", "fr", "nl", "es", "it", "pt", "pl", "uk", "be", "kk", "sr")
_PUNCTUATION = re.compile(r"[.\u00a0\s]+")


def normal(name: str) -> str:
    """The form names are compared in: case, ё, dots, spacing and a leading "the" aside."""
    folded = _PUNCTUATION.sub(" ", name.casefold().replace("ё", "е").replace(".", "")).strip()
    return folded.removeprefix("the ").strip(" ,;")


def _names(country: object) -> list[str]:
    found = (getattr(country, key, None) for key in ("name", "official_name", "common_name"))
    return [name for name in found if isinstance(name, str) and name]


def _languages() -> list[str]:
    root = Path(pycountry.LOCALES_DIR)
    present = sorted(
        p.parent.parent.name for p in root.glob("*/LC_MESSAGES/iso3166-1.mo") if p.is_file()
    )
    first = [lang for lang in FIRST_LANGUAGES if lang in present]
    return first + [lang for lang in present if lang not in first]


def _tier(table: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """`pairs` (name, code) added under names not already in `table`; a name that
    means two countries within this tier is left out."""
    tier: dict[str, str] = {}
    ambiguous: set[str] = set()
    for name, code in pairs:
        key = normal(name)
        if not key or key in table:
            continue
        if tier.setdefault(key, code) != code:
            ambiguous.add(key)
    return table | {k: v for k, v in tier.items() if k not in ambiguous}


@functools.cache
def _table() -> dict[str, str]:
    # Built once per process, on first use (about 0.4 s): not at import time.
    countries = list(pycountry.countries)
    table = _tier({}, list(EVERYDAY_NAMES.items()))
    table = _tier(table, [(n, c.alpha_2) for c in countries for n in _names(c)])
    languages = _languages()
    first = [lang for lang in languages if lang in FIRST_LANGUAGES]
    for group in (first, [lang for lang in languages if lang not in first]):
        pairs: list[tuple[str, str]] = []
        for lang in group:
            translation = gettext.translation(
                "iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True
            )
            pairs += [(translation.gettext(n), c.alpha_2) for c in countries for n in _names(c)]
        table = _tier(table, pairs)
    return table


def country_code(name: str) -> str | None:
    """The ISO 3166-1 alpha-2 code a name or code stands for, or None if unknown."""
    key = normal(name)
    if not key:
        return None
    found = _table().get(key)
    if found is not None:
        return found
    if re.fullmatch(r"[a-z]{2}", key):
        country = pycountry.countries.get(alpha_2=key.upper())
    elif re.fullmatch(r"[a-z]{3}", key):
        country = pycountry.countries.get(alpha_3=key.upper())
    else:
        return None
    return country.alpha_2 if country is not None else None


def is_country(name: str) -> bool:
    return country_code(name) is not None
