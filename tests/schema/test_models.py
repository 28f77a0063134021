"""Payload models: validation rules, time zones, derived formality (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schema.models import (
    CommunityData,
    EventData,
    Listing,
    LocalizedText,
    StandardData,
    Venue,
)
from schema.taxonomy import FORMALITY_BY_FORM, Formality, OrganizationForm

INFORMAL_FORMS = {
    OrganizationForm.PROFESSIONAL_GROUP,
    OrganizationForm.ONLINE_COMMUNITY,
    OrganizationForm.COFFEE_MEETUP,
    OrganizationForm.HACKATHON_GROUP,
    OrganizationForm.EDUCATIONAL_COMMUNITY,
}


def event_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": {"en": "Data meetup"},
        "format": "meetup",
        "starts_at": "2026-03-10T19:00:00",
        "timezone": "Europe/Moscow",
        "attendance_mode": "offline",
        "venue": {"name": "Hall", "city": "Москва", "country": "RU"},
    }
    payload.update(overrides)
    return payload


def community_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": {"ru": "Сообщество"},
        "kind": "professional",
        "form": "association",
    }
    payload.update(overrides)
    return payload


def messages(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(e["msg"] for e in error.value.errors())


def locations(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in error.value.errors()]


def test_naive_times_are_wall_clock_in_the_event_zone() -> None:
    data = EventData.model_validate(
        event_payload(starts_at="2026-03-10T19:00:00", ends_at="2026-03-10T21:30:00")
    )
    assert data.starts_at == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert data.starts_at.utcoffset() == timedelta(0)
    assert data.ends_at == datetime(2026, 3, 10, 18, 30, tzinfo=UTC)


def test_naive_times_follow_daylight_saving_of_the_zone() -> None:
    winter = EventData.model_validate(
        event_payload(starts_at="2026-01-15T10:00:00", timezone="Europe/Berlin")
    )
    summer = EventData.model_validate(
        event_payload(starts_at="2026-07-15T10:00:00", timezone="Europe/Berlin")
    )
    assert winter.starts_at == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert summer.starts_at == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)


def test_aware_times_keep_their_instant_and_become_utc() -> None:
    data = EventData.model_validate(
        event_payload(starts_at="2026-03-10T19:00:00+05:00", timezone="Europe/Moscow")
    )
    assert data.starts_at == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert data.starts_at.tzinfo is UTC
    plus_three = timezone(timedelta(hours=3))
    assert data.starts_at == datetime(2026, 3, 10, 17, 0, tzinfo=plus_three)


def test_default_zone_is_utc() -> None:
    payload = event_payload(starts_at="2026-03-10T19:00:00")
    del payload["timezone"]
    data = EventData.model_validate(payload)
    assert data.timezone == "UTC"
    assert data.starts_at == datetime(2026, 3, 10, 19, 0, tzinfo=UTC)


def test_ends_before_start_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(
            event_payload(starts_at="2026-03-10T19:00:00", ends_at="2026-03-10T18:59:00")
        )
    assert "ends_at is before starts_at" in messages(error)


def test_ends_equal_to_start_is_accepted() -> None:
    data = EventData.model_validate(
        event_payload(starts_at="2026-03-10T19:00:00", ends_at="2026-03-10T19:00:00")
    )
    assert data.ends_at == data.starts_at


def test_ends_before_start_is_compared_as_instants_across_offsets() -> None:
    # 19:00 Moscow is 16:00 UTC; 17:00Z ends after it although "17" < "19".
    data = EventData.model_validate(
        event_payload(starts_at="2026-03-10T19:00:00", ends_at="2026-03-10T17:00:00Z")
    )
    assert data.ends_at == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def test_offline_event_needs_a_venue() -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(event_payload(venue=None))
    assert "an offline event needs a venue" in messages(error)
    assert "attendance_mode is 'unknown'" in messages(error)  # says how to keep it


def test_an_event_whose_place_is_unknown_needs_no_venue_nor_link() -> None:
    for status in ("scheduled", "cancelled"):
        data = EventData.model_validate(
            event_payload(attendance_mode="unknown", venue=None, status=status)
        )
        assert (data.attendance_mode, data.venue, data.online_url) == ("unknown", None, None)


def test_online_event_needs_no_venue() -> None:
    data = EventData.model_validate(
        event_payload(attendance_mode="online", venue=None, online_url="https://meet.example/x")
    )
    assert data.venue is None


def test_unknown_time_zone_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(event_payload(timezone="Mars/Olympus_Mons"))
    assert "Mars/Olympus_Mons" in messages(error)
    assert ("timezone",) in locations(error)


@pytest.mark.parametrize("zone", ["", "../etc/passwd", "Not A Zone"])
def test_malformed_time_zone_is_a_validation_error(zone: str) -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(event_payload(timezone=zone))
    assert ("timezone",) in locations(error)


def test_localized_text_needs_a_language() -> None:
    with pytest.raises(ValidationError) as error:
        LocalizedText.model_validate({})
    assert "at least one" in messages(error)
    with pytest.raises(ValidationError):
        LocalizedText.model_validate({"ru": "", "en": ""})
    assert LocalizedText.model_validate({"en": "Only English"}).ru is None
    assert LocalizedText.model_validate({"ru": "Только русский"}).en is None


def test_localized_text_rejects_other_languages() -> None:
    with pytest.raises(ValidationError) as error:
        LocalizedText.model_validate({"ru": "Текст", "de": "Text"})
    assert ("de",) in locations(error)


def test_unknown_industry_is_rejected_naming_the_code() -> None:
    with pytest.raises(ValidationError) as error:
        CommunityData.model_validate(community_payload(industries=["it", "alchemy"]))
    assert "'alchemy'" in messages(error)
    assert ("industries",) in locations(error)
    with pytest.raises(ValidationError) as error:
        StandardData.model_validate(
            {"code": "X-1", "title": {"en": "X"}, "kind": "technical", "industries": ["magic"]}
        )
    assert "'magic'" in messages(error)


@pytest.mark.parametrize(
    ("model", "payload", "extra"),
    [
        (CommunityData, community_payload(sources=[]), "sources"),
        (CommunityData, community_payload(_id="abc"), "_id"),
        (CommunityData, community_payload(slug="mine"), "slug"),
        (CommunityData, community_payload(formality="formal"), "formality"),
        (EventData, event_payload(search_terms=["x"]), "search_terms"),
        (
            StandardData,
            {"code": "X-1", "title": {"en": "X"}, "kind": "technical", "created_at": "2020"},
            "created_at",
        ),
    ],
)
def test_extra_fields_are_forbidden(model: type[Any], payload: dict[str, Any], extra: str) -> None:
    with pytest.raises(ValidationError) as error:
        model.model_validate(payload)
    assert (extra,) in locations(error)
    assert {e["type"] for e in error.value.errors()} == {"extra_forbidden"}


def test_nested_extra_fields_are_forbidden() -> None:
    with pytest.raises(ValidationError) as error:
        Venue.model_validate({"name": "Hall", "floor": 3})
    assert ("floor",) in locations(error)


@pytest.mark.parametrize("form", list(OrganizationForm))
def test_formality_is_derived_from_every_form(form: OrganizationForm) -> None:
    data = CommunityData.model_validate(community_payload(form=form.value))
    expected = Formality.INFORMAL if form in INFORMAL_FORMS else Formality.FORMAL
    assert data.form.formality is expected


def test_every_form_has_a_formality() -> None:
    assert set(FORMALITY_BY_FORM) == set(OrganizationForm)
    informal = {f for f, v in FORMALITY_BY_FORM.items() if v is Formality.INFORMAL}
    assert informal == INFORMAL_FORMS


@pytest.mark.parametrize("country", ["Russia", "ru", "RUS", "R1", ""])
def test_country_must_be_an_alpha_2_code(country: str) -> None:
    with pytest.raises(ValidationError) as error:
        CommunityData.model_validate(community_payload(countries=["RU", country]))
    assert ("countries",) in locations(error)


@pytest.mark.parametrize(
    "url", ["ftp://x", "example.org", "http://", "https:// spaced.example", "javascript:alert(1)"]
)
def test_website_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValidationError) as error:
        CommunityData.model_validate(community_payload(website=url))
    assert ("website",) in locations(error)


def test_valid_http_urls_are_kept() -> None:
    data = CommunityData.model_validate(
        community_payload(website="HTTPS://Example.org/path?q=1", channels=[])
    )
    assert data.website == "HTTPS://Example.org/path?q=1"


def test_text_is_stripped_and_blank_names_refused() -> None:
    data = CommunityData.model_validate(community_payload(aliases=["  АРИ  "]))
    assert data.aliases == ["АРИ"]
    with pytest.raises(ValidationError):
        CommunityData.model_validate(community_payload(aliases=["   "]))


def test_models_are_frozen() -> None:
    data = CommunityData.model_validate(community_payload())
    with pytest.raises(ValidationError):
        data.kind = "corporate"  # type: ignore[assignment]


def test_listing_source_id_is_a_lowercase_slug() -> None:
    Listing(entity="community", source_id="acme_1", external_id="x", payload={})
    with pytest.raises(ValidationError) as error:
        Listing(entity="community", source_id="Acme", external_id="x", payload={})
    assert ("source_id",) in locations(error)


def test_listing_fetched_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    item = Listing(entity="event", source_id="acme", external_id="x", payload={})
    assert item.fetched_at.tzinfo is not None
    assert before <= item.fetched_at <= datetime.now(UTC)


def test_a_zone_directory_name_is_refused_with_a_message() -> None:
    from pydantic import ValidationError

    from schema.models import EventData

    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        EventData.model_validate(
            {
                "title": {"en": "x"},
                "format": "meetup",
                "starts_at": "2026-01-01T10:00:00",
                "timezone": "Europe",
                "attendance_mode": "online",
            }
        )


# --- characters that change how text reads without being part of it ----------------------

# C0 controls but tab and line breaks, DEL, C1 controls, bidirectional embeddings,
# overrides and isolates. After U+202E, "fdp.exe" shows reversed, as "exe.pdf".
INVISIBLE = [
    *(chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"),
    "\x7f",
    *(chr(code) for code in range(0x80, 0xA0)),
    *(chr(code) for code in range(0x202A, 0x202F)),
    *(chr(code) for code in range(0x2066, 0x206A)),
]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_control_and_bidi_characters_are_removed_from_every_text_field(char: str) -> None:
    def dirty(text: str) -> str:
        return f"{char}{text[:2]}{char}{text[2:]}{char}"

    community = CommunityData.model_validate(
        community_payload(
            name={"ru": dirty("Сообщество"), "en": dirty("Community")},
            description={"en": dirty("Line one\tand\nline two")},
            aliases=[dirty("АРИ")],
            region=dirty("Татарстан"),
            city=dirty("Казань"),
            tags=[dirty("python")],
            channels=[{"type": "messenger", "url": "https://t.me/x", "label": dirty("Chat")}],
        )
    )
    event = EventData.model_validate(
        event_payload(
            title={"en": dirty("Data meetup")},
            venue={"name": dirty("Hall"), "address": dirty("Main st. 1"), "city": dirty("Москва")},
            tags=[dirty("ml")],
        )
    )
    standard = StandardData.model_validate(
        {"code": "GOST-1", "title": {"ru": dirty("Стандарт")}, "kind": "technical"}
    )

    assert (community.name.ru, community.name.en) == ("Сообщество", "Community")
    assert community.description is not None
    assert community.description.en == "Line one\tand\nline two"  # tab and newline stay
    assert (community.aliases, community.region, community.city) == (["АРИ"], "Татарстан", "Казань")
    assert (community.tags, community.channels[0].label) == (["python"], "Chat")
    assert (event.title.en, event.tags) == ("Data meetup", ["ml"])
    assert event.venue is not None
    assert (event.venue.name, event.venue.address, event.venue.city) == (
        "Hall",
        "Main st. 1",
        "Москва",
    )
    assert standard.title.ru == "Стандарт"


def test_carriage_returns_become_line_feeds() -> None:
    data = CommunityData.model_validate(
        community_payload(description={"ru": "Windows\r\nold Mac\rUnix\nend"})
    )
    assert data.description is not None
    assert data.description.ru == "Windows\nold Mac\nUnix\nend"


def test_a_required_text_of_only_such_characters_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        CommunityData.model_validate(
            community_payload(name={"ru": "\u202e\u2066\x00"}, aliases=["ok", "\u202d\x7f"])
        )
    assert set(locations(error)) == {("name",), ("aliases", 1)}
    assert "only control or bidirectional formatting characters" in messages(error)


@pytest.mark.parametrize("char", ["\u202e", "\x00", "\t", "\n", "\x85", "\u2067"])
def test_identifiers_urls_and_references_holding_them_are_refused(char: str) -> None:
    # Values that are matched or followed rather than read are not cleaned: a changed
    # id would point elsewhere, so the listing is refused with the character named.
    with pytest.raises(ValidationError) as error:
        CommunityData.model_validate(
            community_payload(
                website=f"https://example.org/{char}exe.txt",
                identifiers=[{"scheme": "inn", "value": f"0278{char}123456"}],
                member_of=[f"par{char}ent"],
                channels=[{"type": "messenger", "url": f"https://t.me/{char}x"}],
            )
        )
    assert set(locations(error)) == {
        ("website",),
        ("identifiers", 0, "value"),
        ("member_of", 0),
        ("channels", 0, "url"),
    }
    assert f"U+{ord(char):04X}" in messages(error)
    with pytest.raises(ValidationError) as error:
        StandardData.model_validate(
            {"code": f"GOST{char}1", "title": {"en": "x"}, "kind": "technical", "version": "2"}
        )
    assert locations(error) == [("code",)]
    with pytest.raises(ValidationError) as error:
        Listing(entity="community", source_id="acme", external_id=f"c{char}1", payload={})
    assert locations(error) == [("external_id",)]


# --- junk dates --------------------------------------------------------------------------

PLAIN_DATE_HINT = "is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"


@pytest.mark.parametrize(
    "junk", ["yesterday", "2026-13-45T19:00", "10.12.2026 19:00", "", "2026-12-10T25:00+03:00"]
)
@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_a_junk_start_or_end_is_refused_in_plain_words(junk: str, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(event_payload(**{field: junk}))
    assert [(e["loc"], e["msg"]) for e in error.value.errors()] == [
        ((field,), f"{junk!r} {PLAIN_DATE_HINT}")
    ]


def test_a_junk_date_that_is_not_text_is_refused_in_plain_words() -> None:
    with pytest.raises(ValidationError) as error:
        EventData.model_validate(event_payload(starts_at=["2026-12-10"]))
    assert messages(error) == f"['2026-12-10'] {PLAIN_DATE_HINT}"
