"""Field mappings over registry rows: transforms, splits, column names, bad values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.framework.columns import column_key
from connectors.framework.contract import FieldWarning, Rejected
from connectors.framework.errors import FatalError
from connectors.framework.mapping import FieldMapping, map_record
from schema.models import Listing

BASE: dict[str, Any] = {
    "entity": "community",
    "external_id": "ОГРН",
    "fields": {
        "name.ru": "Наименование",
        "kind": {"value": "national"},
        "form": {"value": "association"},
    },
}


def mapping(**fields: Any) -> FieldMapping:
    given = {**BASE, "fields": {**BASE["fields"], **fields.pop("fields", {})}, **fields}
    return FieldMapping.model_validate(given)


def row(**cells: str) -> dict[str, str]:
    return {"ОГРН": "1027700000011", "Наименование": "Союз инженеров", **cells}


def mapped(rule: FieldMapping, record: dict[str, Any]) -> tuple[Listing | Rejected, list[Any]]:
    items = map_record(rule, "nko", record, where="line 2")
    *warnings, last = items
    assert isinstance(last, Listing | Rejected)
    return last, warnings


# --- 1d: a website without a scheme -----------------------------------------------------


@pytest.mark.parametrize(
    ("written", "website"),
    [
        ("www.example.org", "https://www.example.org"),
        ("example.org/o-nas", "https://example.org/o-nas"),
        ("HTTPS://Example.org", "HTTPS://Example.org"),
    ],
)
def test_a_website_without_a_scheme_is_made_a_url(written: str, website: str) -> None:
    listing, warnings = mapped(mapping(fields={"website": "Сайт"}), row(Сайт=written))
    assert isinstance(listing, Listing)
    assert listing.payload["website"] == website
    assert warnings == []


def test_a_website_that_cannot_be_one_leaves_only_that_field_out() -> None:
    rule = mapping(fields={"website": "Сайт", "city": "Город"})
    listing, warnings = mapped(rule, row(Сайт="нет сайта", Город="Казань"))

    assert isinstance(listing, Listing)
    assert "website" not in listing.payload
    assert listing.payload["city"] == "Казань"
    assert warnings == [
        FieldWarning(
            "1027700000011",
            "website",
            "нет сайта",
            "'нет сайта' is not a web address (such as https://example.org)",
        )
    ]


# --- 1e: one invalid value: dropped with a warning, or the row refused -----------------


def test_an_impossible_date_is_left_out_with_a_warning_by_default() -> None:
    rule = mapping(fields={"founded_year": {"source": "Дата", "transform": "year"}})
    listing, warnings = mapped(rule, row(Дата="30.02.2021"))

    assert isinstance(listing, Listing)
    assert "founded_year" not in listing.payload  # never 2021 from a day that does not exist
    [warning] = warnings
    assert (warning.field, warning.raw) == ("founded_year", "30.02.2021")
    assert "February 2021 has no day 30" in warning.message


def test_a_source_may_refuse_the_row_instead_naming_the_field() -> None:
    for rule in (
        mapping(
            invalid_values="reject_row",
            fields={"founded_year": {"source": "Дата", "transform": "year"}},
        ),
        mapping(
            fields={
                "founded_year": {"source": "Дата", "transform": "year", "invalid": "reject_row"}
            }
        ),
    ):
        refused, warnings = mapped(rule, row(Дата="30.02.2021"))
        assert isinstance(refused, Rejected)
        assert refused.reason.startswith("line 2: founded_year: '30.02.2021' is not a date")
        assert refused.external_id == "1027700000011"
        assert refused.raw == row(Дата="30.02.2021")  # kept raw: a later fix maps it again
        assert warnings == []


def test_a_value_the_model_refuses_is_left_out_per_field() -> None:
    rule = mapping(
        fields={
            "countries": {"source": "Страна", "split": ","},
            "member_count": "Члены",
            "identifiers.inn": "ИНН",
            "identifiers.ogrn": "ОГРН",
        }
    )
    listing, warnings = mapped(rule, row(Страна="Россия", Члены="много", ИНН="77 01\x07"))

    assert isinstance(listing, Listing)
    assert "countries" not in listing.payload
    assert "member_count" not in listing.payload
    # One identifier of two left out, the other kept.
    assert listing.payload["identifiers"] == [{"scheme": "ogrn", "value": "1027700000011"}]
    assert {(w.field, str(w.raw)) for w in warnings} == {
        ("countries", "Россия"),
        ("member_count", "много"),
        ("identifiers.inn", "77 01\x07"),
    }


def test_a_bad_required_field_refuses_the_row_whatever_the_choice() -> None:
    rule = mapping(fields={"kind": {"source": "Вид"}, "website": "Сайт"})
    listing, warnings = mapped(rule, row(Вид="неизвестно", Сайт="нет"))
    # Left to ingestion, which refuses it naming every bad field: nothing is dropped
    # from a record that is refused anyway.
    assert isinstance(listing, Listing)
    assert listing.payload["kind"] == "неизвестно"
    assert listing.payload.get("website") is None
    assert [w.field for w in warnings] == ["website"]


def test_a_bad_required_date_is_refused_with_its_reason() -> None:
    event = FieldMapping.model_validate(
        {
            "entity": "event",
            "external_id": "id",
            "fields": {
                "title.ru": "title",
                "format": {"value": "meetup"},
                "attendance_mode": {"value": "online"},
                "starts_at": {"source": "start", "transform": "datetime"},
            },
        }
    )
    refused, _ = mapped(event, {"id": "e1", "title": "Митап", "start": "31.11.2026 19:00"})
    assert isinstance(refused, Rejected)
    assert "starts_at: '31.11.2026 19:00' is not a date: November 2026 has no day 31" in (
        refused.reason
    )


# --- 2a: dates through a declared transform ---------------------------------------------


def test_registry_dates_map_to_a_founding_year_and_to_event_times() -> None:
    rule = mapping(fields={"founded_year": {"source": "Дата", "transform": "year"}})
    for written in ("12.05.1998", "1998-05-12", "12/05/1998", "12.05.1998 00:00"):
        listing, _ = mapped(rule, row(Дата=written))
        assert isinstance(listing, Listing)
        assert listing.payload["founded_year"] == 1998

    event = FieldMapping.model_validate(
        {
            "entity": "event",
            "external_id": "id",
            "fields": {
                "title.ru": "title",
                "format": {"value": "meetup"},
                "attendance_mode": {"value": "online"},
                "starts_at": {"source": "start", "transform": "datetime"},
                "ends_at": {"source": "end", "transform": "datetime", "formats": ["mm/dd/yyyy"]},
            },
        }
    )
    listing, _ = mapped(
        event,
        {"id": "e1", "title": "Митап", "start": "03.12.2026 19:00", "end": "12/03/2026 21:30"},
    )
    assert isinstance(listing, Listing)
    assert listing.payload["starts_at"] == "2026-12-03T19:00:00"
    assert listing.payload["ends_at"] == "2026-12-03T21:30:00"


def test_date_forms_need_a_date_transform() -> None:
    with pytest.raises(ValidationError, match="formats: only with a transform"):
        mapping(fields={"city": {"source": "Город", "formats": ["dd.mm.yyyy"]}})
    with pytest.raises(ValidationError, match="transform"):
        mapping(fields={"founded_year": {"source": "Дата", "transform": "epoch"}})


# --- 2b: several separators, flat lists -------------------------------------------------


def test_split_takes_several_separators_and_value_lists_are_flattened() -> None:
    rule = mapping(
        fields={
            "industries": {
                "source": "Отрасли",
                "split": [";", ",", " / "],
                "values": {"ИТ и связь": ["it", "telecom"], "Образование": "education"},
            },
            "aliases": {"source": "Сокр", "split": ["|", ";"]},
        }
    )
    listing, _ = mapped(
        rule, row(Отрасли="ИТ и связь; Образование / ИТ и связь,", Сокр="СИ | Союз;СИ")
    )
    assert isinstance(listing, Listing)
    assert listing.payload["industries"] == ["it", "telecom", "education"]
    assert listing.payload["aliases"] == ["СИ", "Союз"]


def test_a_json_list_is_split_item_by_item_into_one_list() -> None:
    rule = mapping(fields={"aliases": {"source": "names", "split": ","}})
    listing, _ = mapped(rule, {**row(), "names": ["А, Б", "В", None]})
    assert isinstance(listing, Listing)
    assert listing.payload["aliases"] == ["А", "Б", "В"]


def test_an_empty_separator_is_refused() -> None:
    with pytest.raises(ValidationError, match="non-empty separators"):
        mapping(fields={"aliases": {"source": "Сокр", "split": [";", ""]}})


# --- 2c: column names after normalization -----------------------------------------------


def test_column_names_match_whatever_case_spaces_and_yo() -> None:
    assert column_key("  Дата\u00a0регистрации ") == column_key("дата регистрации")
    assert column_key("Счёт") == column_key("СЧЕТ")
    rule = mapping(
        fields={
            "city": "ГОРОД ",
            "founded_year": {"source": "Дата  регистрации", "transform": "year"},
        }
    )
    header = ["огрн", "\u00a0Наименование", "Город", "Дата\u00a0Регистрации", "Счёт"]
    bound = rule.bind_columns(header)
    record = dict(zip(header, ["1", "Союз", "Казань", "01.02.2003", "x"], strict=True))
    listing, _ = mapped(bound, record)
    assert isinstance(listing, Listing)
    assert listing.external_id == "1"
    assert listing.payload["name"] == {"ru": "Союз"}
    assert (listing.payload["city"], listing.payload["founded_year"]) == ("Казань", 2003)


def test_a_column_the_file_does_not_have_fails_with_the_files_columns() -> None:
    rule = mapping(fields={"city": "Город", "website": "Сайт"})
    with pytest.raises(FatalError) as failed:
        rule.bind_columns(["ОГРН", "Наименование", "Город"])
    message = str(failed.value)
    assert "fields.website: no column 'Сайт'" in message
    assert "the file's columns are 'ОГРН', 'Наименование', 'Город'" in message


def test_two_columns_that_normalize_alike_are_not_guessed_between() -> None:
    rule = mapping(fields={"city": "город"})
    with pytest.raises(FatalError, match="'город' matches several columns"):
        rule.bind_columns(["ОГРН", "Наименование", "Город", "ГОРОД "])
