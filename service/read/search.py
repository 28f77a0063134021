"""Ranked search over the read model's term tables (see service.documents.search_text).

A query word hits a row when one of the row's terms equals one of the word's keys
(its stem, its transliteration skeleton, or a prefix of those at least
MIN_PREFIX long). Ranking, as the service has always ranked:
  - rows matching more of the query words come first (`matched`);
  - per word, a name hit beats a body hit and an exact key beats a prefix; the
    best hit of each word counts, summed over the words (`score`).
One indexed look-up of every key finds the hits; the ranking is a GROUP BY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.documents import search_text as text

# Weight per query word, by where and how it matched; the best one counts.
WEIGHTS = (
    (text.NAME, "exact", 8),
    (text.NAME, "prefix", 4),
    (text.BODY, "exact", 2),
    (text.BODY, "prefix", 1),
)


def analyse(search: str | None) -> list[text.QueryWord]:
    return text.query_words(search) if search else []


@dataclass(frozen=True)
class Ranking:
    """A `ranked(id, matched, score)` common table expression and its parameters."""

    sql: str
    params: tuple[Any, ...]


def ranking(words: list[text.QueryWord], terms_table: str) -> Ranking:
    # (term, word, weight): a term may stand for several words, and the best hit of
    # each word counts.
    rows: list[tuple[str, int, int]] = []
    for index, word in enumerate(words):
        for prefix, kind, weight in WEIGHTS:
            for key in word.exact if kind == "exact" else word.prefixes:
                rows.append((prefix + key, index, weight))
    values = ", ".join("(?, ?, ?)" for _ in rows)
    sql = (
        f"query_keys(term, word, weight) AS (VALUES {values}), "
        "hits AS (SELECT t.id AS id, q.word AS word, MAX(q.weight) AS weight "
        f"FROM query_keys q JOIN {terms_table} t ON t.term = q.term GROUP BY t.id, q.word), "
        "ranked AS (SELECT id, COUNT(*) AS matched, SUM(weight) AS score FROM hits GROUP BY id)"
    )
    return Ranking(sql, tuple(p for row in rows for p in row))
