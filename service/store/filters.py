"""Typed GraphQL filter inputs -> MongoDB match documents.

Only values from typed inputs and enums reach a query; free text is analysed
into search terms, codes are checked against the vocabulary, ids are parsed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from schema.enums import MatchMode, StandardKind, StandardRole
from schema.errors import UserInputError
from schema.inputs import (
    CommunityEventFilter,
    CommunityFilter,
    EventFilter,
    IntRange,
    NearInput,
    StandardFilter,
)
from schema.relay import expect_global_id
from schema.taxonomy import INDUSTRIES
from service.normalize import city_key

Match = dict[str, Any]
# Ranges get both ends: the embedded server is only fast on bounded ranges.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
EARTH_RADIUS_KM = 6371.0088
MAX_FILTER_NESTING = 4


def object_id(raw: str, argument: str) -> ObjectId:
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise UserInputError(
            f"'{argument}' does not name an existing object", argument=argument
        ) from None


def entity_ref(global_id: str, type_name: str, argument: str) -> ObjectId:
    return object_id(expect_global_id(global_id, type_name, argument=argument), argument)


def combine(conditions: list[Match]) -> Match:
    conditions = [c for c in conditions if c]
    if not conditions:
        return {}
    if len(conditions) == 1:
        return conditions[0]
    return {"$and": conditions}


def _values(values: list[Any] | None) -> list[Any] | None:
    return [getattr(v, "value", v) for v in values] if values else None


def industries(codes: list[str], argument: str = "industries") -> list[str]:
    unknown = [c for c in codes if c not in INDUSTRIES]
    if unknown:
        raise UserInputError(
            f"unknown industry code(s) {', '.join(map(repr, unknown))} in '{argument}'; "
            f"see the `industries` query",
            argument=argument,
        )
    return codes


def countries(codes: list[str], argument: str = "countries") -> list[str]:
    bad = [c for c in codes if not _COUNTRY.match(c)]
    if bad:
        raise UserInputError(
            f"'{argument}' takes ISO 3166-1 alpha-2 codes such as 'RU'; got {bad[0]!r}",
            argument=argument,
        )
    return [c.upper() for c in codes]


def _int_range(field: str, value: IntRange, argument: str) -> Match:
    if value.min is not None and value.max is not None and value.min > value.max:
        raise UserInputError(f"'{argument}.min' is greater than its 'max'", argument=argument)
    bounds: dict[str, int] = {"$gte": value.min if value.min is not None else -(2**31)}
    bounds["$lte"] = value.max if value.max is not None else 2**31 - 1
    return {field: bounds}


def community_match(value: CommunityFilter | None, now: datetime, depth: int = 0) -> Match:
    if value is None:
        return {}
    if depth > MAX_FILTER_NESTING:
        raise UserInputError(
            f"'filter' nests AND/OR deeper than {MAX_FILTER_NESTING} levels", argument="filter"
        )
    conditions: list[Match] = []
    if kinds := _values(value.kinds):
        conditions.append({"kind": {"$in": kinds}})
    if forms := _values(value.forms):
        conditions.append({"form": {"$in": forms}})
    if value.formality is not None:
        conditions.append({"formality": value.formality.value})
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        operator = "$all" if value.industries_match is MatchMode.ALL else "$in"
        conditions.append({"industries": {operator: codes}})
    if value.countries:
        conditions.append({"countries": {"$in": countries(value.countries, "filter.countries")}})
    if value.city:
        conditions.append({"city_key": city_key(value.city)})
    if value.tags:
        conditions.append({"tags": {"$in": [t.lower() for t in value.tags]}})
    if offers := _values(value.offers):
        conditions.append({"offers": {"$in": offers}})
    if value.founded_year is not None:
        conditions.append(_int_range("founded_year", value.founded_year, "filter.foundedYear"))
    if value.member_of is not None:
        parent = entity_ref(value.member_of, "Community", "filter.memberOf")
        conditions.append({"member_of": parent})
    if value.has_upcoming_events is True:
        conditions.append({"event_starts": {"$gte": now, "$lt": FAR_FUTURE}})
    elif value.has_upcoming_events is False:
        conditions.append({"event_starts": {"$not": {"$gte": now}}})
    if statuses := _values(value.statuses):
        conditions.append({"status": {"$in": statuses}})
    if value.and_:
        conditions.extend(community_match(sub, now, depth + 1) for sub in value.and_)
    if value.or_:
        branches = [community_match(sub, now, depth + 1) for sub in value.or_]
        if any(not b for b in branches):
            pass  # an empty branch matches everything, so the OR adds no condition
        else:
            conditions.append({"$or": branches})
    return combine(conditions)


def _time_range(start: datetime | None, end: datetime | None, now: datetime) -> Match:
    if start is None and end is None:
        start = now  # the default view is what is still to come
    lower = _utc(start) if start is not None else FAR_PAST
    upper = _utc(end) if end is not None else FAR_FUTURE
    if lower >= upper:
        raise UserInputError("'filter.from' must be before 'filter.to'", argument="filter.from")
    return {"starts_at": {"$gte": lower, "$lt": upper}}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _near(value: NearInput) -> Match:
    if not -90 <= value.lat <= 90 or not -180 <= value.lon <= 180:
        raise UserInputError("'filter.near' needs -90<=lat<=90 and -180<=lon<=180", argument="near")
    if not 0 < value.radius_km <= 20_000:
        raise UserInputError(
            "'filter.near.radiusKm' must be above 0 and at most 20000", argument="near"
        )
    sphere = [[value.lon, value.lat], value.radius_km / EARTH_RADIUS_KM]
    return {"venue.location": {"$geoWithin": {"$centerSphere": sphere}}}


def event_match(value: EventFilter | CommunityEventFilter | None, now: datetime) -> Match:
    if value is None:
        return _time_range(None, None, now)
    conditions = [_time_range(value.from_, value.to, now)]
    if formats := _values(value.formats):
        conditions.append({"format": {"$in": formats}})
    if modes := _values(value.attendance_modes):
        conditions.append({"attendance_mode": {"$in": modes}})
    if statuses := _values(value.statuses):
        conditions.append({"status": {"$in": statuses}})
    if isinstance(value, EventFilter):
        if value.countries:
            codes = countries(value.countries, "filter.countries")
            conditions.append({"venue.country": {"$in": codes}})
        if value.city:
            conditions.append({"city_key": city_key(value.city)})
        if value.organizer is not None:
            organizer = entity_ref(value.organizer, "Community", "filter.organizer")
            conditions.append({"organizers": organizer})
        if value.near is not None:
            conditions.append(_near(value.near))
    return combine(conditions)


def standard_match(value: StandardFilter | None) -> Match:
    if value is None:
        return {}
    conditions: list[Match] = []
    if kinds := _values(value.kinds):
        conditions.append({"kind": {"$in": kinds}})
    if statuses := _values(value.statuses):
        conditions.append({"status": {"$in": statuses}})
    if value.issuer is not None:
        conditions.append({"issuer": entity_ref(value.issuer, "Community", "filter.issuer")})
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        conditions.append({"industries": {"$in": codes}})
    return combine(conditions)


ROLE_FIELD = {
    StandardRole.ISSUED: "issuer",
    StandardRole.ADOPTED: "adopters",
    StandardRole.ANY: "parties",
}


def standard_kinds(kinds: list[StandardKind] | None) -> Match:
    values = _values(kinds)
    return {"kind": {"$in": values}} if values else {}
