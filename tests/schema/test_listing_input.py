"""Listing inputs mirror the payload models and map to the payloads ingestion reads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from schema.enums import AttendanceMode, ChannelType, CommunityKind, EventFormat, OrganizationForm
from schema.listing_input import (
    ChannelInput,
    CommunityListingInput,
    EventListingInput,
    GeoPointInput,
    IdentifierInput,
    ListingDraft,
    ListingInput,
    LocalizedTextInput,
    MoneyInput,
    StandardListingInput,
    VenueInput,
)
from schema.models import (
    Channel,
    CommunityData,
    EventData,
    GeoPoint,
    Identifier,
    LocalizedText,
    Money,
    StandardData,
    Venue,
)
from schema.taxonomy import EntityType


@pytest.mark.parametrize(
    ("graphql_input", "model"),
    [
        (CommunityListingInput, CommunityData),
        (EventListingInput, EventData),
        (StandardListingInput, StandardData),
        (LocalizedTextInput, LocalizedText),
        (GeoPointInput, GeoPoint),
        (ChannelInput, Channel),
        (IdentifierInput, Identifier),
        (MoneyInput, Money),
        (VenueInput, Venue),
    ],
)
def test_each_input_has_exactly_the_fields_of_its_model(
    graphql_input: type, model: type[BaseModel]
) -> None:
    fields = {f.name for f in dataclasses.fields(graphql_input)}
    assert fields == set(model.model_fields)


def _community(**extra: object) -> CommunityListingInput:
    return CommunityListingInput(
        name=LocalizedTextInput(en="Guild"),
        kind=CommunityKind.NATIONAL,
        form=OrganizationForm.ASSOCIATION,
        **extra,  # type: ignore[arg-type]
    )


def test_a_draft_carries_a_payload_the_model_accepts() -> None:
    item = ListingInput(
        external_id="  c1 ",
        community=_community(
            channels=[ChannelInput(type=ChannelType.FORUM, url="https://forum.example")],
            founded_year=2001,
        ),
    )

    draft = item.draft(4)

    assert (draft.index, draft.external_id, draft.entity) == (4, "c1", EntityType.COMMUNITY)
    assert draft.payload == {
        "name": {"en": "Guild"},
        "kind": "national",
        "form": "association",
        "channels": [{"type": "forum", "url": "https://forum.example"}],
        "founded_year": 2001,
    }
    assert draft.errors == ()
    CommunityData.model_validate(draft.payload)


def test_event_times_keep_their_offset_or_stay_wall_clock() -> None:
    def starts(moment: datetime) -> object:
        event = EventListingInput(
            title=LocalizedTextInput(en="Meetup"),
            format=EventFormat.MEETUP,
            starts_at=moment,
            timezone="Europe/Moscow",
            attendance_mode=AttendanceMode.ONLINE,
        )
        draft = ListingInput(external_id="e1", event=event).draft(0)
        assert draft.payload is not None
        return EventData.model_validate(draft.payload).starts_at

    assert starts(datetime(2026, 3, 10, 19, 0)) == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert starts(datetime(2026, 3, 10, 19, 0, tzinfo=UTC)) == datetime(
        2026, 3, 10, 19, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("item", "paths"),
    [
        (ListingInput(external_id="x"), ["listings.2"]),
        (
            ListingInput(
                external_id="x",
                community=_community(),
                event=EventListingInput(
                    title=LocalizedTextInput(en="Meetup"),
                    format=EventFormat.MEETUP,
                    starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                    attendance_mode=AttendanceMode.ONLINE,
                ),
            ),
            ["listings.2"],
        ),
        (ListingInput(external_id=" ", community=_community()), ["listings.2.externalId"]),
        (ListingInput(external_id="x" * 201, community=_community()), ["listings.2.externalId"]),
        (
            ListingInput(external_id="x", url="ftp://files.example/x", community=_community()),
            ["listings.2.url"],
        ),
    ],
)
def test_a_draft_that_cannot_be_a_listing_says_where(item: ListingInput, paths: list[str]) -> None:
    assert [e.path for e in item.draft(2).errors] == paths


def test_payload_errors_get_graphql_paths() -> None:
    draft = ListingDraft(3, "c1", EntityType.COMMUNITY, None, {})

    assert (
        draft.payload_error("channels.0.url", "bad").path == "listings.3.community.channels.0.url"
    )
    assert draft.payload_error("founded_year", "bad").path == "listings.3.community.foundedYear"
    assert draft.payload_error("payload", "bad").path == "listings.3.community"
    assert draft.payload_error("externalId", "twice").path == "listings.3.externalId"
