"""Places written as text and countries written as names: the classes of input sources
send (connectors.framework.countries, place_text, place_zones)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.framework.countries import country_code
from connectors.framework.place_text import PlaceText, read_place
from connectors.framework.place_zones import fixed_offset_zone, venue_zone, zone_for_instant


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("Ireland", "IE"),
        ("Германия", "DE"),
        ("Deutschland", "DE"),
        ("Allemagne", "DE"),
        ("the Netherlands", "NL"),
        ("Нидерланды", "NL"),
        ("Россия", "RU"),
        ("Russian Federation", "RU"),
        ("U.S.A.", "US"),
        ("UK", "GB"),
        ("Österreich", "AT"),
        ("Казахстан", "KZ"),
        ("nl", "NL"),
        ("DEU", "DE"),
    ],
)
def test_country_names_in_any_language_and_codes_map_to_iso_codes(written: str, code: str) -> None:
    assert country_code(written) == code


@pytest.mark.parametrize("written", ["Narnia", "Москва", "Amsterdam", "", "  "])
def test_what_names_no_country_is_none(written: str) -> None:
    assert country_code(written) is None


@pytest.mark.parametrize(
    ("text", "city", "country"),
    [
        ("Москва, ул. Льва Толстого, 16", "Москва", None),
        ("119021, г. Москва, ул. Тимура Фрунзе, 11", "Москва", None),
        ("Россия, Санкт-Петербург, Невский пр., 28", "Санкт-Петербург", "RU"),
        ("Казань, Кремлёвская улица, 35", "Казань", None),
        ("Novosibirsk, Russia", "Novosibirsk", "RU"),
        ("Ереван, Армения", "Ереван", "AM"),
        ("Station Berlin, Luckenwalder Str. 4-6, 10963 Berlin, Germany", "Berlin", "DE"),
        ("Café Einstein, Kurfürstenstraße 58, 10785 Berlin", "Berlin", None),
        ("Xomnia (Raamstraat 7, Amsterdam, NH, Netherlands 1016 XL)", "Amsterdam", "NL"),
        (
            "Hall, Burgemeester Oudlaan 50, Rotterdam, South Holland, 3062 PA, Netherlands",
            "Rotterdam",
            "NL",
        ),
        ("The Digital Hub (Thomas Street 10, Dublin, Ireland D08 TCV4)", "Dublin", "IE"),
        ("Office, 10 Downing Street, London SW1A 2AA, UK", "London", "GB"),
        ("The Owl, 497 Rogers Ave, Brooklyn, NY 11225", "Brooklyn", None),
    ],
)
def test_city_and_country_come_from_the_usual_shapes(
    text: str, city: str, country: str | None
) -> None:
    assert read_place(text) == PlaceText(city=city, country=country)


@pytest.mark.parametrize(
    "text", ["Main hall", "Samara Hub", "Online", "Berlin Office", "Austin, TX", "Denver, CO"]
)
def test_text_that_shows_no_city_gives_none_and_a_state_is_no_country(text: str) -> None:
    assert read_place(text) == PlaceText()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_venue_gives_its_zone_by_coordinates_country_or_city() -> None:
    assert venue_zone({"location": {"lat": 55.03, "lon": 82.92}}) == "Asia/Novosibirsk"
    assert venue_zone({"location": {"lat": 52.37, "lon": 4.89}}) == "Europe/Amsterdam"
    assert venue_zone({"country": "IE"}) == "Europe/Dublin"
    assert venue_zone({"country": "DE"}) == "Europe/Berlin"  # Busingen keeps Berlin's clock
    assert venue_zone({"country": "US", "city": "Los Angeles"}) == "America/Los_Angeles"
    assert venue_zone({"country": "RU"}) is None  # eleven clocks: not without more
    # ... unless the offset written settles it.
    assert venue_zone({"country": "RU"}, _at("2030-05-01T19:00:00+07:00")) is not None
    assert venue_zone({"name": "Main hall"}) is None


def test_an_instant_is_filed_under_the_venue_zone_else_the_default_else_its_offset() -> None:
    moment = _at("2030-10-31T19:30:00-04:00")
    brooklyn = {"location": {"lat": 40.66, "lon": -73.95}}
    assert zone_for_instant(moment, "UTC", brooklyn) == "America/New_York"
    # Written in UTC for a venue in Minsk: the venue's zone shows its local time.
    assert zone_for_instant(_at("2030-05-01T16:00:00+00:00"), "UTC", {"country": "BY"}) == (
        "Europe/Minsk"
    )
    assert zone_for_instant(moment, "America/Toronto") == "America/Toronto"
    assert zone_for_instant(moment, "UTC") == "Etc/GMT+4"  # the tz database's inverted sign
    assert zone_for_instant(_at("2030-01-01T12:00:00Z"), "Europe/Moscow") == "UTC"


@pytest.mark.parametrize(("hours", "minutes"), [(5, 30), (5, 45), (-3, -30), (9, 30)])
def test_an_offset_of_hours_and_minutes_gets_a_zone_that_has_it(hours: int, minutes: int) -> None:
    moment = datetime(2030, 1, 15, 12, tzinfo=timezone(timedelta(hours=hours, minutes=minutes)))
    zone = fixed_offset_zone(moment)
    assert moment.astimezone(ZoneInfo(zone)).utcoffset() == moment.utcoffset()
