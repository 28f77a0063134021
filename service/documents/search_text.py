"""Portable full-text search terms: stemmed ru/en tokens plus a Latin skeleton.

The embedded server has no `$text`, so every entity stores `search_terms`, a
multikey-indexed array, and a query becomes an `$in` over the keys below.

For each word of a name we store:
  - its Snowball stem in its own script ("сколковского" -> "сколковск");
  - a Latin *skeleton*: transliterated, with spellings that differ between
    transliterations folded ("финтех" -> "finteh", "fintech" -> "finteh").
Body words store their stem only (see `terms`).
Terms are prefixed with a weight class: "n:" for names and aliases, "b:" for the
body (description, tags, places), so one index serves both and ranking can
weigh a name hit above a description hit.

A query word matches a document term when the term equals the word's stem or
skeleton, or is a prefix (at least MIN_PREFIX long) of them: that is how
"сколковского" (stem "сколковск") finds "Сколково" (stem "сколков").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer

MIN_PREFIX = 5
NAME = "n:"
BODY = "b:"
MAX_QUERY_WORDS = 8

_WORD = re.compile(r"[0-9a-zа-яё]+", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]")

_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip

# Folds that make different romanizations of one word meet ("kh"/"h", "ks"/"x").
_SKELETON_FOLDS = (
    ("sch", "sh"),
    ("kh", "h"),
    ("ch", "h"),
    ("ck", "k"),
    ("ph", "f"),
    ("th", "t"),
    ("x", "ks"),
    ("w", "v"),
    ("j", "i"),
    ("y", "i"),
    ("c", "k"),
    ("q", "k"),
    ("ts", "z"),
)

_STOP_WORDS = frozenset(
    "и в во на по с со к о об от для из за не the of and for in on to a an at by".split()
)


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Any:
    return snowballstemmer.stemmer(language)


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return [w for w in _WORD.findall(folded) if w not in _STOP_WORDS]


def transliterate(word: str) -> str:
    return "".join(_TO_LATIN.get(ch, ch) for ch in word)


def skeleton(latin: str) -> str:
    for old, new in _SKELETON_FOLDS:
        latin = latin.replace(old, new)
    # Doubled letters are spelled single in the other script more often than not.
    return re.sub(r"(.)\1+", r"\1", latin)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    language = "russian" if _CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word)) if not word.isdigit() else word


@lru_cache(maxsize=65536)
def word_keys(word: str) -> tuple[str, ...]:
    """The keys stored for a word of a name: its stem and a Latin skeleton."""
    stem = _stem(word)
    if _CYRILLIC.search(word):
        keys: tuple[str, ...] = (stem, skeleton(transliterate(stem)))
    else:
        # Latin names keep the whole word's skeleton: "Skolkovo" is not a word the
        # English stemmer knows, and a Russian query meets it through its skeleton.
        keys = (stem, skeleton(word))
    return tuple(dict.fromkeys(k for k in keys if k))


@lru_cache(maxsize=65536)
def query_keys(word: str) -> tuple[str, ...]:
    """The keys a query word matches: the stored keys plus the other script's forms."""
    extra = skeleton(transliterate(word)) if _CYRILLIC.search(word) else skeleton(_stem(word))
    return tuple(dict.fromkeys((*word_keys(word), extra)))


def terms(names: list[str], body: list[str]) -> list[str]:
    """The `search_terms` array stored on an entity.

    Body words keep only their stem: every stored term is an index entry rewritten
    on each write, and matching across scripts matters most for names.
    """
    found: dict[str, None] = {}
    for text in names:
        for word in words(text):
            for key in word_keys(word):
                found[NAME + key] = None
    for text in body:
        for word in words(text):
            found[BODY + _stem(word)] = None
    return list(found)


@dataclass(frozen=True)
class QueryWord:
    exact: tuple[str, ...]
    prefixes: tuple[str, ...]

    def all_keys(self) -> tuple[str, ...]:
        return self.exact + self.prefixes


def query_words(text: str) -> list[QueryWord]:
    """Analyse a search string; each word carries the terms that count as a hit."""
    result: list[QueryWord] = []
    for word in dict.fromkeys(words(text)):
        exact = query_keys(word)
        prefixes = {
            key[:length]
            for key in exact
            for length in range(MIN_PREFIX, len(key))
            if key[:length] not in exact
        }
        result.append(QueryWord(exact, tuple(sorted(prefixes))))
    return result[:MAX_QUERY_WORDS]


_SLUG_CLEAN = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    latin = transliterate(unicodedata.normalize("NFKC", text).lower().replace("ё", "е"))
    latin = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    return _SLUG_CLEAN.sub("-", latin).strip("-")[:80] or "item"


def sort_key(text: str) -> str:
    """A case- and script-insensitive sort key (Cyrillic and Latin names interleave)."""
    return " ".join(words(text))[:200]
