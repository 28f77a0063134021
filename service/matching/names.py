"""Names in a form that compares across Russian, English and transliteration.

A name becomes a set of *canonical tokens*: each word lower-cased, a Russian word
replaced by its English equivalent where the glossary has one, transliterated to
Latin, its spellings folded to the search skeleton (service.documents.search_text)
and cut to its first TOKEN_LENGTH letters, which also absorbs inflection and most
typos at a word's end ("развития", "razvitiya" and "development" meet as words of
one name when the glossary knows the word, and the first two always do). Legal-form
words (АНО, НП, ассоциация, союз, LLC, e.V. ...) and quotes are dropped: they say
what the organisation is registered as, not which one it is.

A name's *signature* is its canonical tokens sorted and joined: word order and
legal form do not change it. Its *acronym* is the first letter of each word,
legal-form words included or not ("Ассоциация развития интернета" -> "ari", "ri").
A name that is itself an abbreviation ("АРИ", "RAEC") has an *abbreviation*.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer

from service.documents import search_text as text
from service.matching import glossary

TOKEN_LENGTH = 6

# Words that only say how an organisation is registered (after `text.words`: lower
# case, "ё" as "е"). Multi-word forms are listed word by word.
LEGAL_FORM_WORDS = frozenset(
    """
    ано нп нко ооо оао зао пао ао ип аюл роо оо моо фонд
    автономная автономной некоммерческая некоммерческой некоммерческое некоммерческого
    партнерство партнерства организация организации ассоциация ассоциации союз союза
    объединение объединения общественная общественной юридических лиц
    llc ltd inc corp gmbh ag ev e v ngo nonprofit non profit association union
    foundation partnership incorporated limited
    """.split()
)
# Words that say what kind of group it is, which sources add or leave out ("Клуб
# лидеров ..." in a registry is "Лидеров ..." in a member list): not part of the
# signature, still part of the acronym.
GENERIC_WORDS = frozenset("клуб сообщество сообщества club community group группа".split())

# Words that make a record a part of another: a chapter is not its national body.
_CHAPTER_STEMS = frozenset({"отделен", "филиа", "представительств", "подразделен"})
_CHAPTER_WORDS = frozenset({"chapter", "branch", "division", "section", "subsidiary"})

_ORIGINAL_WORD = re.compile(r"[0-9A-Za-zА-Яа-яЁё]+")
_CYRILLIC = re.compile(r"[а-яё]")


@lru_cache(maxsize=1)
def _russian() -> Any:
    return snowballstemmer.stemmer("russian")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str | None:
    """The Russian stem of a Cyrillic word; None for any other."""
    return str(_russian().stemWord(word)) if _CYRILLIC.search(word) else None


# Latin spellings of Russian letters, longest first: how a Russian word written in
# Latin letters ("promyshlennogo") is read back, to look it up in the glossary.
_FROM_LATIN = (
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("tz", "ц"),
    ("ch", "ч"), ("sh", "ш"), ("yu", "ю"), ("ya", "я"), ("yo", "ё"), ("ye", "е"),
    ("iy", "ий"), ("yy", "ый"), ("j", "й"), ("x", "кс"), ("w", "в"), ("c", "к"), ("q", "к"),
    ("h", "х"),
)  # fmt: skip
_LATIN_LETTERS = str.maketrans("abvgdezijklmnoprstuf", "абвгдезийклмнопрстуф")
_AFTER_VOWEL_Y = re.compile(r"(?<=[аеёиоуыэюя])y")


@lru_cache(maxsize=65536)
def read_back(word: str) -> str | None:
    """A Latin word read as transliterated Russian ("dizaynerov" -> "дизайнеров")."""
    if _CYRILLIC.search(word) or word.isdigit():
        return None
    for latin, cyrillic in _FROM_LATIN:
        word = word.replace(latin, cyrillic)
    word = _AFTER_VOWEL_Y.sub("й", word.translate(_LATIN_LETTERS))
    return word.replace("y", "ы")


def _english(word: str) -> str | None:
    found = glossary.english(word, _stem(word))
    if found is None and (guess := read_back(word)) is not None:
        found = glossary.english(guess, _stem(guess))
    return found


@lru_cache(maxsize=65536)
def canonical(word: str) -> str:
    """A word as names are compared: English where known, Latin skeleton, cut short."""
    latin = _english(word) or text.transliterate(word)
    return text.skeleton(latin)[:TOKEN_LENGTH]


def is_legal_form(word: str) -> bool:
    return word in LEGAL_FORM_WORDS or read_back(word) in LEGAL_FORM_WORDS


@lru_cache(maxsize=65536)
def spelled(word: str) -> str:
    """A word as a transliteration writes it ("разработчиков" as "razrabotchikov")."""
    return text.skeleton(text.transliterate(word))[:TOKEN_LENGTH]


def is_chapter_word(word: str) -> bool:
    stem = _stem(word)
    return (stem in _CHAPTER_STEMS) if stem is not None else word in _CHAPTER_WORDS


@dataclass(frozen=True)
class NameForms:
    """What one name is compared by."""

    tokens: frozenset[str]
    signature: str
    # The signature of the name as transliterated, where it differs (a Russian name
    # with words the glossary translates): a Latin spelling of it meets this one.
    spelled: str | None
    acronyms: frozenset[str]
    abbreviation: str | None
    chapter: bool

    @property
    def signatures(self) -> tuple[str, ...]:
        return (self.signature, self.spelled) if self.spelled else (self.signature,)


def _latin_initials(words: list[str]) -> str:
    return "".join(text.transliterate(w[0]) for w in words if w and not w.isdigit())


@lru_cache(maxsize=65536)
def forms(name: str) -> NameForms:
    words = text.words(name)
    core = [w for w in words if not is_legal_form(w) and w not in GENERIC_WORDS] or words
    tokens = frozenset(canonical(w) for w in core)
    signature = " ".join(sorted(tokens))
    plain = " ".join(sorted({spelled(w) for w in core}))
    registered = [w for w in words if not is_legal_form(w)]
    acronyms = {_latin_initials(words), _latin_initials(registered), _latin_initials(core)}
    return NameForms(
        tokens=tokens,
        signature=signature,
        spelled=plain if plain != signature else None,
        acronyms=frozenset(a for a in acronyms if len(a) >= 2),
        abbreviation=abbreviation(name),
        chapter=any(is_chapter_word(w) for w in words),
    )


def abbreviation(name: str) -> str | None:
    """The abbreviation a name is ("АРИ", "АНО «АРИ»", "RAEC"), in Latin letters."""
    folded = unicodedata.normalize("NFKC", name)
    words = [w for w in _ORIGINAL_WORD.findall(folded) if not is_legal_form(w.lower())]
    if len(words) != 1:
        return None
    word = words[0]
    if not 2 <= len(word) <= 8 or word.isdigit() or word.upper() != word:
        return None
    return text.transliterate(word.lower().replace("ё", "е"))


def city_key(city: str | None) -> str | None:
    """One key for one city however it is written ("Москва", "Moscow", "г. Москва")."""
    if not city:
        return None
    words = [w for w in text.words(city) if w not in {"г", "город", "city", "gorod"}]
    return " ".join(canonical(w) for w in words) or None
