"""Value transforms: registry date forms, founding years and web addresses."""

from __future__ import annotations

import pytest

from connectors.framework.transforms import BadValue, to_date, to_datetime, to_url, to_year


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("31.12.2021", "2021-12-31"),
        ("1.2.2021", "2021-02-01"),
        ("2021-12-31", "2021-12-31"),
        ("31/12/2021", "2021-12-31"),
        ("  29.02.2024 ", "2024-02-29"),  # a leap day, spaces around
        ("31.12.2021 18:30", "2021-12-31"),
        ("2021-12-31T18:30:05", "2021-12-31"),
        ("31/12/2021 08:05:00", "2021-12-31"),
    ],
)
def test_registry_date_forms_are_read_with_or_without_a_time(written: str, day: str) -> None:
    assert to_date(written) == day


def test_a_date_and_time_keeps_its_time_and_its_offset() -> None:
    assert to_datetime("31.12.2021 18:30") == "2021-12-31T18:30:00"
    assert to_datetime("2021-12-31T18:30:00+0300") == "2021-12-31T18:30:00+03:00"
    assert to_datetime("2021-12-31 18:30Z") == "2021-12-31T18:30:00+00:00"
    assert to_datetime("31.12.2021") == "2021-12-31T00:00:00"


@pytest.mark.parametrize(
    ("written", "year"),
    [("12.05.1998", 1998), ("1998-05-12", 1998), ("12/05/1998 10:00", 1998), ("1998", 1998)],
)
def test_a_founding_year_is_the_year_of_a_date_or_a_year_alone(written: str, year: int) -> None:
    assert to_year(written) == year


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("30.02.2021", "February 2021 has no day 30 (it has 28)"),
        ("29.02.2023", "February 2023 has no day 29"),
        ("31.04.2021", "April 2021 has no day 31"),
        ("2021-13-01", "there is no month 13"),
        ("12.05.98", "not a date in a form this mapping reads"),
        ("вчера", "not a date in a form this mapping reads"),
        ("31.12.2021 25:00", "no time 25:00"),
    ],
)
def test_a_date_that_does_not_exist_is_never_made_into_another(written: str, says: str) -> None:
    for transform in (to_date, to_datetime, to_year):
        with pytest.raises(BadValue) as bad:
            transform(written)
        assert says in str(bad.value)
        assert repr(written) in str(bad.value)  # the message quotes the value


def test_month_first_dates_are_read_only_when_the_mapping_names_the_form() -> None:
    assert to_date("12/31/2021", ("mm/dd/yyyy",)) == "2021-12-31"
    with pytest.raises(BadValue, match="no month 31"):
        to_date("12/31/2021")  # dd/mm/yyyy by default


@pytest.mark.parametrize(
    ("written", "url"),
    [
        ("www.example.org", "https://www.example.org"),
        ("example.org/about?x=1", "https://example.org/about?x=1"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("сайт.рф", "https://сайт.рф"),
        ("dev-club.example.co.uk:8080/join", "https://dev-club.example.co.uk:8080/join"),
        ("http://old.example.org", "http://old.example.org"),
        (" https://example.org/path ", "https://example.org/path"),
    ],
)
def test_a_web_address_without_a_scheme_becomes_a_url(written: str, url: str) -> None:
    assert to_url(written) == url


@pytest.mark.parametrize(
    "written",
    ["нет", "нет сайта", "info@example.org", "@devclub", "http//example.org", "127.0.0.1", "a b"],
)
def test_what_cannot_be_a_web_address_is_refused(written: str) -> None:
    with pytest.raises(BadValue, match="is not a web address"):
        to_url(written)
