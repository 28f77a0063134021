"""Names compare across scripts, languages, legal forms and word order."""

from __future__ import annotations

from service.matching import names


def test_legal_forms_quotes_and_word_order_do_not_change_the_signature() -> None:
    one = names.forms("АНО «Цифровая экономика»")
    two = names.forms('Экономика цифровая "АНО"')
    assert one.signature == two.signature


def test_russian_and_english_names_meet_through_the_glossary() -> None:
    ru = names.forms("Ассоциация развития интернета")
    en = names.forms("Internet Development Association")
    assert ru.signature == en.signature


def test_a_transliterated_russian_name_meets_the_cyrillic_one() -> None:
    cyrillic = names.forms("Ассоциация разработчиков игр")
    latin = names.forms("Assotsiatsiya razrabotchikov igr")
    assert set(cyrillic.signatures) & set(latin.signatures)


def test_an_abbreviation_is_the_acronym_of_its_full_name() -> None:
    assert names.forms("АРИ").abbreviation == "ari"
    assert "ari" in names.forms("Ассоциация развития интернета").acronyms


def test_a_chapter_is_marked() -> None:
    assert names.forms("Санкт-Петербургское отделение Ассоциации развития интернета").chapter
    assert names.forms("Internet Development Association, Moscow Chapter").chapter
    assert not names.forms("Ассоциация развития интернета").chapter


def test_cities_compare_across_languages() -> None:
    assert names.city_key("г. Москва") == names.city_key("Moscow")
    assert names.city_key("Санкт-Петербург") == names.city_key("St. Petersburg")
