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
from service.documents.filter_terms import TERM_FIELDS, term
from service.documents.normalize import city_key

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


# The embedded server walks the index of a filter's first clause and checks the
# rest on each document it reads, so the clause expected to select least goes first.
_SELECTIVE_FIRST = ("_id", "search_terms", "venue.location", "filter_terms", "code_key", "slug")


def combine(conditions: list[Match]) -> Match:
    """AND the conditions into one flat document.

    A flat filter lets the server pick an index; `$and` would not (the embedded
    server then scans the collection). Only a true clash (the same operator on the
    same field twice) is kept aside under `$and`, which the store resolves
    through indexed queries (see GraphReader._indexable).
    """
    merged: Match = {}
    clashes: list[Match] = []
    for condition in conditions:
        for field, value in condition.items():
            if field == "$and":
                clashes.extend(value)
            elif field not in merged:
                merged[field] = value
            elif (
                not field.startswith("$")
                and _is_operators(merged[field])
                and _is_operators(value)
                and not set(merged[field]) & set(value)
            ):
                merged[field] = {**merged[field], **value}
            else:
                clashes.append({field: value})
    if clashes:
        merged["$and"] = clashes
    return merged


def indexed(match: Match) -> Match:
    """The filter as sent: one indexed `filter_terms` clause first, the exact clauses after.

    The original clause stays as written (it is exact for arrays of ids, dates,
    `$all`); the added term clause only lets one index find the candidates.
    """
    routed = dict(match)
    if "filter_terms" not in routed:
        for field in TERM_FIELDS:
            terms = _terms_for(field, routed.get(field))
            if terms:
                routed["filter_terms"] = terms[0] if len(terms) == 1 else {"$in": terms}
                break
    rank = {name: i for i, name in enumerate(_SELECTIVE_FIRST)}
    return dict(sorted(routed.items(), key=lambda item: rank.get(item[0], len(rank))))


def _terms_for(field: str, condition: Any) -> list[str]:
    if condition is None:
        return []
    if isinstance(condition, dict):
        if set(condition) == {"$in"}:
            values = condition["$in"]
        elif set(condition) == {"$all"}:
            values = condition["$all"][:1]  # candidates: those with the first value
        else:
            return []
    else:
        values = [condition]
    if not values or any(isinstance(v, dict | list) for v in values):
        return []
    return [term(field, v) for v in values]


def _is_operators(value: Any) -> bool:
    return isinstance(value, dict) and all(str(k).startswith("$") for k in value)


def one_of(values: list[Any]) -> Any:
    """`$in`, or a bare value when there is one: equality can use compound indexes."""
    return values[0] if len(values) == 1 else {"$in": values}


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
        conditions.append({"kind": one_of(kinds)})
    if forms := _values(value.forms):
        conditions.append({"form": one_of(forms)})
    if value.formality is not None:
        conditions.append({"formality": value.formality.value})
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        if value.industries_match is MatchMode.ALL and len(codes) > 1:
            conditions.append({"industries": {"$all": codes}})
        else:
            conditions.append({"industries": one_of(codes)})
    if value.countries:
        conditions.append({"countries": one_of(countries(value.countries, "filter.countries"))})
    if value.city:
        conditions.append({"city_key": city_key(value.city)})
    if value.tags:
        conditions.append({"tags": one_of([t.lower() for t in value.tags])})
    if offers := _values(value.offers):
        conditions.append({"offers": one_of(offers)})
    if value.founded_year is not None:
        conditions.append(_int_range("founded_year", value.founded_year, "filter.foundedYear"))
    if value.member_of is not None:
        parent = entity_ref(value.member_of, "Community", "filter.memberOf")
        conditions.append({"member_of": parent})
    if value.has_upcoming_events is True:
        conditions.append({"last_event_at": {"$gte": now, "$lt": FAR_FUTURE}})
    elif value.has_upcoming_events is False:
        conditions.append({"last_event_at": {"$gte": FAR_PAST, "$lt": now}})
    if statuses := _values(value.statuses):
        conditions.append({"status": one_of(statuses)})
    if value.and_:
        conditions.extend(community_match(sub, now, depth + 1) for sub in value.and_)
    if value.or_:
        branches = [community_match(sub, now, depth + 1) for sub in value.or_]
        # An empty branch matches everything, so the OR adds no condition.
        if all(branches):
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
        conditions.append({"format": one_of(formats)})
    if modes := _values(value.attendance_modes):
        conditions.append({"attendance_mode": one_of(modes)})
    if statuses := _values(value.statuses):
        conditions.append({"status": one_of(statuses)})
    if isinstance(value, EventFilter):
        if value.countries:
            codes = countries(value.countries, "filter.countries")
            conditions.append({"venue.country": one_of(codes)})
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
        conditions.append({"kind": one_of(kinds)})
    if statuses := _values(value.statuses):
        conditions.append({"status": one_of(statuses)})
    if value.issuer is not None:
        conditions.append({"issuer": entity_ref(value.issuer, "Community", "filter.issuer")})
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        conditions.append({"industries": one_of(codes)})
    return combine(conditions)


ROLE_FIELD = {
    StandardRole.ISSUED: "issuer",
    StandardRole.ADOPTED: "adopters",
    StandardRole.ANY: "parties",
}


def standard_kinds(kinds: list[StandardKind] | None) -> Match:
    values = _values(kinds)
    return {"kind": one_of(values)} if values else {}
