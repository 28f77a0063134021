"""Search terms, query analysis, slugs and sort keys (pure functions)."""

from __future__ import annotations

import re

import pytest

from service.documents import search_text as text


def document_keys(*names: str, body: tuple[str, ...] = ()) -> set[str]:
    """The stored terms of a document without their weight prefix."""
    return {term.split(":", 1)[1] for term in text.terms(list(names), list(body))}


def meets(query: str, *names: str) -> bool:
    """Whether every word of `query` hits a term of a document named `names`."""
    stored = document_keys(*names)
    words = text.query_words(query)
    assert words, query
    return all(set(word.all_keys()) & stored for word in words)


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("Сколково", "Сколково"),
        ("сколковского", "Сколково"),
        ("СКОЛКОВО", "Сколково"),
        ("Skolkovo", "Сколково"),
        ("Skolkovo", "Skolkovo"),
        ("сколковский", "Сколково"),
        ("финтех", "Fintech"),
        ("fintech", "ФинТех"),
        ("финтеха", "fintech"),
        ("ассоциации", "Ассоциация"),
        ("associations", "association"),
        ("Ёжик", "ежик"),
    ],
)
def test_query_word_meets_document(query: str, document: str) -> None:
    assert meets(query, document)


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("Сколково", "Финтех"),
        ("fintech", "Медицина"),
        ("skolkovo", "Skopje"),
    ],
)
def test_unrelated_words_do_not_meet(query: str, document: str) -> None:
    assert not meets(query, document)


def test_fintech_spellings_share_a_skeleton() -> None:
    cyrillic = text.word_keys("финтех")
    latin = text.word_keys("fintech")
    assert set(cyrillic) & set(latin) == {"finteh"}
    assert cyrillic[0] == "финтех"


def test_word_keys_put_the_stem_first_and_have_no_duplicates() -> None:
    keys = text.word_keys("сколковского")
    assert keys[0] == "сколковск"
    assert all(re.fullmatch(r"[a-z]+", k) for k in keys[1:])
    assert len(keys) == len(set(keys))
    assert text.word_keys("2024") == ("2024",)


def test_stop_words_are_dropped() -> None:
    assert text.words("Ассоциация и союз в сфере the Internet of Things") == [
        "ассоциация",
        "союз",
        "сфере",
        "internet",
        "things",
    ]
    assert text.query_words("и в на the of") == []
    stored = document_keys("Союз и the Guild")
    assert "и" not in stored
    assert "the" not in stored


def test_terms_are_prefixed_by_weight_class() -> None:
    terms = text.terms(["Сколково"], ["fintech"])
    assert "n:сколков" in terms
    assert "n:skolkov" in terms
    assert "b:fintech" in terms
    assert "b:finteh" not in terms  # body words keep their stem only
    assert all(t.startswith(("n:", "b:")) for t in terms)
    assert len(terms) == len(set(terms))


def test_query_prefixes_are_long_enough_and_not_exact_keys() -> None:
    (word,) = text.query_words("сколковского")
    assert word.exact == ("сколковск", "skolkovsk", "skolkovskogo")
    assert "сколков" in word.prefixes
    assert "skolkov" in word.prefixes
    assert all(len(p) >= text.MIN_PREFIX for p in word.prefixes)
    assert not set(word.prefixes) & set(word.exact)


def test_query_words_are_deduplicated_and_capped() -> None:
    assert len(text.query_words("финтех Финтех ФИНТЕХ")) == 1
    many = " ".join(f"слово{i}" for i in range(20))
    assert len(text.query_words(many)) == text.MAX_QUERY_WORDS


def test_yo_is_folded_to_ye() -> None:
    assert text.words("Ёлка") == ["елка"]
    assert text.sort_key("Ёжик") == text.sort_key("ежик")


def test_slugify_transliterates_cyrillic() -> None:
    slug = text.slugify("Ассоциация ФинТех")
    assert slug == "assotsiatsiya-finteh"


@pytest.mark.parametrize(
    "title",
    [
        "Ассоциация ФинТех",
        "Café — «Кофе & Код» №1",
        "  ---Hello,   World!!!  ",
        "Щёлково Ъ Ь",
        "ГОСТ Р 1.0-2012",
    ],
)
def test_slugs_are_lowercase_ascii_words_joined_by_hyphens(title: str) -> None:
    slug = text.slugify(title)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), slug


def test_slug_of_nothing_usable_is_a_placeholder_and_long_slugs_are_cut() -> None:
    assert text.slugify("!!! ???") == "item"
    assert text.slugify("") == "item"
    assert len(text.slugify("слово " * 100)) <= 80


def test_sort_key_is_case_insensitive() -> None:
    assert text.sort_key("ABC Def") == text.sort_key("abc DEF") == "abc def"
    assert text.sort_key("СКОЛКОВО") == text.sort_key("сколково")
    assert text.sort_key("Alpha") < text.sort_key("beta") < text.sort_key("Gamma")
    assert text.sort_key("Альфа") < text.sort_key("бета")


def test_cyrillic_query_meets_a_latin_only_name() -> None:
    stored = set(text.terms(["Skolkovo Hackathon"], []))
    for query in ("Сколково", "хакатон"):
        (word,) = text.query_words(query)
        assert {"n:" + key for key in word.all_keys()} & stored, query
