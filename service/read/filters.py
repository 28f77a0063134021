"""Typed GraphQL filter inputs -> SQL conditions over the read model.

Only values from typed inputs and enums reach a query, always as parameters:
codes are checked against the vocabulary, ids are parsed, free text is analysed
into search terms elsewhere (service.read.search). Table and column names come
from this module, never from a client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
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
from service.documents.normalize import LIVE_EVENT_STATUSES, city_key
from service.read_model.rows import epoch_us

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
EARTH_RADIUS_KM = 6371.0088
MAX_FILTER_NESTING = 4
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Condition:
    """A SQL boolean expression and its parameters; empty means "every row"."""

    sql: str = ""
    params: tuple[Any, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.sql)

    def where(self) -> str:
        return f"WHERE {self.sql}" if self.sql else ""


TRUE = Condition()


def every(conditions: Iterable[Condition]) -> Condition:
    parts = [c for c in conditions if c]
    if not parts:
        return TRUE
    if len(parts) == 1:
        return parts[0]
    return Condition(
        " AND ".join(f"({c.sql})" for c in parts), tuple(p for c in parts for p in c.params)
    )


def any_of(conditions: Sequence[Condition]) -> Condition:
    """OR of the branches; an empty branch matches everything, so then no condition."""
    if not conditions or not all(conditions):
        return TRUE
    return Condition(
        " OR ".join(f"({c.sql})" for c in conditions),
        tuple(p for c in conditions for p in c.params),
    )


def column_in(column: str, values: Sequence[Any]) -> Condition:
    if len(values) == 1:
        return Condition(f"{column} = ?", (values[0],))
    return Condition(f"{column} IN ({', '.join('?' * len(values))})", tuple(values))


def having_value(alias: str, table: str, name: str, values: Sequence[str]) -> Condition:
    """The row has at least one of `values` in its multi-valued field `name`."""
    inner = column_in("value", values)
    return Condition(
        f"{alias}.id IN (SELECT id FROM {table} WHERE field = ? AND {inner.sql})",
        (name, *inner.params),
    )


def object_id(raw: str, argument: str) -> str:
    try:
        return str(ObjectId(raw))
    except (InvalidId, TypeError):
        raise UserInputError(
            f"'{argument}' does not name an existing object", argument=argument
        ) from None


def entity_ref(global_id: str, type_name: str, argument: str) -> str:
    return object_id(expect_global_id(global_id, type_name, argument=argument), argument)


def _values(values: Sequence[Any] | None) -> list[Any] | None:
    return [v.value if isinstance(v, Enum) else v for v in values] if values else None


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


def _int_range(column: str, value: IntRange, argument: str) -> Condition:
    if value.min is not None and value.max is not None and value.min > value.max:
        raise UserInputError(f"'{argument}.min' is greater than its 'max'", argument=argument)
    low = value.min if value.min is not None else INT_MIN
    high = value.max if value.max is not None else INT_MAX
    return Condition(f"{column} BETWEEN ? AND ?", (low, high))


def _upcoming(alias: str, now: datetime) -> Condition:
    """The community organizes a live event that has not started yet."""
    live = column_in("e.status", list(LIVE_EVENT_STATUSES))
    return Condition(
        "EXISTS (SELECT 1 FROM event_organizers o JOIN events e ON e.id = o.event_id "
        f"WHERE o.community_id = {alias}.id AND e.starts_at >= ? AND {live.sql})",
        (epoch_us(now), *live.params),
    )


def community_condition(
    value: CommunityFilter | None, now: datetime, alias: str = "c", depth: int = 0
) -> Condition:
    if value is None:
        return TRUE
    if depth > MAX_FILTER_NESTING:
        raise UserInputError(
            f"'filter' nests AND/OR deeper than {MAX_FILTER_NESTING} levels", argument="filter"
        )
    values = "community_values"
    conditions: list[Condition] = []
    if kinds := _values(value.kinds):
        conditions.append(column_in(f"{alias}.kind", kinds))
    if forms := _values(value.forms):
        conditions.append(column_in(f"{alias}.form", forms))
    if value.formality is not None:
        conditions.append(column_in(f"{alias}.formality", [value.formality.value]))
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        if value.industries_match is MatchMode.ALL:
            conditions += [having_value(alias, values, "industries", [c]) for c in codes]
        else:
            conditions.append(having_value(alias, values, "industries", codes))
    if value.countries:
        codes = countries(value.countries, "filter.countries")
        conditions.append(having_value(alias, values, "countries", codes))
    if value.city:
        conditions.append(Condition(f"{alias}.city_key = ?", (city_key(value.city),)))
    if value.tags:
        tags = [t.lower() for t in value.tags]
        conditions.append(having_value(alias, values, "tags", tags))
    if offers := _values(value.offers):
        conditions.append(having_value(alias, values, "offers", offers))
    if value.founded_year is not None:
        conditions.append(
            _int_range(f"{alias}.founded_year", value.founded_year, "filter.foundedYear")
        )
    if value.member_of is not None:
        parent = entity_ref(value.member_of, "Community", "filter.memberOf")
        conditions.append(having_value(alias, values, "member_of", [parent]))
    if value.has_upcoming_events is True:
        conditions.append(_upcoming(alias, now))
    elif value.has_upcoming_events is False:
        upcoming = _upcoming(alias, now)
        conditions.append(Condition(f"NOT ({upcoming.sql})", upcoming.params))
    if statuses := _values(value.statuses):
        conditions.append(column_in(f"{alias}.status", statuses))
    for sub in value.and_ or []:
        conditions.append(community_condition(sub, now, alias, depth + 1))
    if value.or_:
        conditions.append(
            any_of([community_condition(sub, now, alias, depth + 1) for sub in value.or_])
        )
    return every(conditions)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_range(
    alias: str, start: datetime | None, end: datetime | None, now: datetime
) -> Condition:
    if start is None and end is None:
        start = now  # the default view is what is still to come
    conditions = []
    if start is not None and end is not None and _utc(start) >= _utc(end):
        raise UserInputError("'filter.from' must be before 'filter.to'", argument="filter.from")
    if start is not None:
        conditions.append(Condition(f"{alias}.starts_at >= ?", (epoch_us(_utc(start)),)))
    if end is not None:
        conditions.append(Condition(f"{alias}.starts_at < ?", (epoch_us(_utc(end)),)))
    return every(conditions)


def _near(alias: str, value: NearInput) -> Condition:
    if not -90 <= value.lat <= 90 or not -180 <= value.lon <= 180:
        raise UserInputError("'filter.near' needs -90<=lat<=90 and -180<=lon<=180", argument="near")
    if not 0 < value.radius_km <= 20_000:
        raise UserInputError(
            "'filter.near.radiusKm' must be above 0 and at most 20000", argument="near"
        )
    # Great-circle distance (the spherical law of cosines), clamped for rounding; the
    # latitude band first lets the index on `lat` narrow the candidates.
    band = math.degrees(value.radius_km / EARTH_RADIUS_KM)
    lat, lon = math.radians(value.lat), math.radians(value.lon)
    return Condition(
        f"{alias}.lat BETWEEN ? AND ? AND {EARTH_RADIUS_KM} * acos(min(1.0, max(-1.0, "
        f"sin(?) * sin(radians({alias}.lat)) + cos(?) * cos(radians({alias}.lat)) "
        f"* cos(radians({alias}.lon) - ?)))) <= ?",
        (value.lat - band, value.lat + band, lat, lat, lon, value.radius_km),
    )


def event_condition(
    value: EventFilter | CommunityEventFilter | None, now: datetime, alias: str = "e"
) -> Condition:
    if value is None:
        return _time_range(alias, None, None, now)
    conditions = [_time_range(alias, value.from_, value.to, now)]
    if formats := _values(value.formats):
        conditions.append(column_in(f"{alias}.format", formats))
    if modes := _values(value.attendance_modes):
        conditions.append(column_in(f"{alias}.attendance_mode", modes))
    if statuses := _values(value.statuses):
        conditions.append(column_in(f"{alias}.status", statuses))
    if isinstance(value, EventFilter):
        if value.countries:
            codes = countries(value.countries, "filter.countries")
            conditions.append(column_in(f"{alias}.country", codes))
        if value.city:
            conditions.append(Condition(f"{alias}.city_key = ?", (city_key(value.city),)))
        if value.organizer is not None:
            organizer = entity_ref(value.organizer, "Community", "filter.organizer")
            conditions.append(
                Condition(
                    f"{alias}.id IN (SELECT event_id FROM event_organizers WHERE community_id = ?)",
                    (organizer,),
                )
            )
        if value.near is not None:
            conditions.append(_near(alias, value.near))
    return every(conditions)


def standard_condition(value: StandardFilter | None, alias: str = "s") -> Condition:
    if value is None:
        return TRUE
    conditions: list[Condition] = []
    if kinds := _values(value.kinds):
        conditions.append(column_in(f"{alias}.kind", kinds))
    if statuses := _values(value.statuses):
        conditions.append(column_in(f"{alias}.status", statuses))
    if value.issuer is not None:
        issuer = entity_ref(value.issuer, "Community", "filter.issuer")
        conditions.append(Condition(f"{alias}.issuer = ?", (issuer,)))
    if value.industries:
        codes = industries(value.industries, "filter.industries")
        conditions.append(having_value(alias, "standard_values", "industries", codes))
    return every(conditions)


def standard_kinds(kinds: Sequence[StandardKind] | None, alias: str = "s") -> Condition:
    values = _values(kinds)
    return column_in(f"{alias}.kind", values) if values else TRUE


def standard_role(role: StandardRole, parent_column: str, alias: str = "s") -> Condition:
    """The standard is issued / adopted / either by the community in `parent_column`."""
    if role is StandardRole.ISSUED:
        return Condition(f"{alias}.issuer = {parent_column}")
    field_name = "adopters" if role is StandardRole.ADOPTED else "parties"
    return Condition(
        f"EXISTS (SELECT 1 FROM standard_values v WHERE v.field = ? "
        f"AND v.value = {parent_column} AND v.id = {alias}.id)",
        (field_name,),
    )
