"""Ranked search over `search_terms` (see service.documents.search_text), as aggregation stages.

The `$in` over every key of every query word is answered by the multikey
index; ranking then runs on the (small) set that matched:
  - documents matching more of the query words come first;
  - per word, a name hit beats a body hit and an exact stem beats a prefix.
"""

from __future__ import annotations

from typing import Any

from service.documents import search_text as text

# Weight per query word, by where and how it matched; the best one counts.
_WEIGHTS = (
    (text.NAME, "exact", 8),
    (text.NAME, "prefix", 4),
    (text.BODY, "exact", 2),
    (text.BODY, "prefix", 1),
)
RELEVANCE_KEYS = (("_matched", -1), ("_score", -1))


def analyse(search: str | None) -> list[text.QueryWord]:
    return text.query_words(search) if search else []


def term_match(words: list[text.QueryWord]) -> dict[str, Any]:
    keys = sorted(
        {
            prefix + key
            for word in words
            for key in word.all_keys()
            for prefix in (text.NAME, text.BODY)
        }
    )
    return {"search_terms": {"$in": keys}}


def _hit(keys: list[str]) -> dict[str, Any]:
    return {"$gt": [{"$size": {"$setIntersection": ["$search_terms", keys]}}, 0]}


def _word_score(word: text.QueryWord) -> Any:
    score: Any = 0
    for prefix, kind, weight in reversed(_WEIGHTS):
        keys = [prefix + k for k in (word.exact if kind == "exact" else word.prefixes)]
        if keys:
            score = {"$cond": [_hit(keys), weight, score]}
    return score


def score_stages(words: list[text.QueryWord]) -> list[dict[str, Any]]:
    scores = [_word_score(w) for w in words]
    return [
        {"$addFields": {"_word_scores": scores}},
        {
            "$addFields": {
                "_score": {"$sum": "$_word_scores"},
                "_matched": {
                    "$size": {
                        "$filter": {
                            "input": "$_word_scores",
                            "as": "s",
                            "cond": {"$gt": ["$$s", 0]},
                        }
                    }
                },
            }
        },
        {"$project": {"_word_scores": 0}},
    ]
