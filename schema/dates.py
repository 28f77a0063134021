"""The plain words for a date and time that does not parse, the same on every way in.

A partner's `startsAt`, a GraphQL `DateTime` argument, a mapped CSV or JSON cell, a
JSON-LD `startDate`, an iCalendar DTSTART: whichever parser read the value, the
caller is told the value, that it is not a date and time, and what one looks like,
never the parser's internals ("invalid literal for int() with base 10: b'yest'").
Where the words travel with a field path (GraphQL, pydantic) the path names the
field; elsewhere the caller puts the field's name in front.
"""

from __future__ import annotations

ISO_EXAMPLE = "2026-12-10T19:00:00+03:00"
ISO_FORMS = f"use ISO 8601 such as {ISO_EXAMPLE}"
_SHOWN = 60  # characters of a long value quoted back


def shown(value: object) -> str:
    """`value` quoted as the caller wrote it, shortened if long."""
    if isinstance(value, str) and len(value) > _SHOWN:
        return repr(value[:_SHOWN] + "...")
    return repr(value)


def not_a_date_time(value: object, forms: str = ISO_FORMS) -> str:
    """ "'yesterday' is not a date and time; use ISO 8601 such as 2026-12-10T19:00:00+03:00"."""
    return f"{shown(value)} is not a date and time; {forms}"
