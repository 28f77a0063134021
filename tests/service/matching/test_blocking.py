"""Event blocking keys: few stored events share one with a new record unless they may
be the same event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.matching import blocking, names
from service.matching.profiles import EventProfile

STARTS = datetime(2026, 9, 10, 16, tzinfo=UTC)


def event(*titles: str, online: bool = False, city: str | None = "Москва") -> EventProfile:
    return EventProfile(
        entity_id=None,
        sources={"a"},
        forms=[names.forms(title) for title in titles],
        starts_at=STARTS,
        online=online,
        city=None if online else names.city_key(city),
        venue=None,
        url=None,
        identifiers={},
    )


def words(keys: list[str]) -> set[str]:
    return {k.removeprefix(blocking.TITLE_WORD).split("|")[0] for k in keys if k.startswith("~w:")}


def test_words_that_only_name_the_kind_of_event_are_no_keys() -> None:
    profile = event("Game Developers Meetup", "Митап разработчиков игр")
    asked = words(blocking.event_wanted(profile, timedelta(hours=2)))
    stored = words(blocking.event_stored(profile))
    assert names.canonical("meetup") not in asked | stored
    assert names.canonical("game") in asked
    assert asked == stored


def test_a_title_made_only_of_kind_words_keeps_them() -> None:
    profile = event("Hackathon", "Хакатон")
    assert words(blocking.event_stored(profile)) == {names.canonical("hackathon")}


def test_online_is_no_place_key_and_a_city_is() -> None:
    online = blocking.event_stored(event("PyData Talks", online=True))
    in_town = blocking.event_stored(event("PyData Talks", city="Moscow"))
    assert not [k for k in online if k.startswith(blocking.PLACE)]
    assert [k for k in in_town if k.startswith(blocking.PLACE)] == [
        f"{blocking.PLACE}{int(STARTS.timestamp()) // blocking.HALF_DAY_S}|"
        f"{names.city_key('Москва')}"
    ]
