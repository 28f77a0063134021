"""Column names as people write them: matched after normalization, never guessed.

A mapping written by hand names "ИНН", the file's header says " инн" or "Дата
регистрации" with a non-breaking space or "Ё" where the mapping has "Е". These are
the same column: names are compared by `column_key` (case folded, ё as е, every run
of white space, non-breaking ones included, as one space, none around). A name that
matches no column, or two, is an error that lists the file's columns: a field is
never silently left empty because of its column's spelling.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def column_key(name: str) -> str:
    """The form two column names are compared in."""
    text = unicodedata.normalize("NFC", name.replace("\ufeff", ""))
    return " ".join(text.casefold().replace("ё", "е").split())


@dataclass(frozen=True)
class Unmatched:
    """A mapping's path that names no column of the file (or more than one)."""

    where: str  # the mapping's place: "external_id", "url", "fields.name.ru"
    column: str
    candidates: tuple[str, ...] = ()  # the columns it matches when there are several


def match_columns(
    wanted: Iterable[tuple[str, str]], columns: Sequence[str]
) -> tuple[dict[str, str], list[Unmatched]]:
    """For each (where, column name) the mapping names: the file's column it means.

    Returns the matches (name as the mapping writes it -> the file's name) and what
    did not match. An exact name wins over normalized ones.
    """
    by_key: dict[str, list[str]] = {}
    for column in columns:
        by_key.setdefault(column_key(column), []).append(column)
    exact = set(columns)
    matched: dict[str, str] = {}
    unmatched: list[Unmatched] = []
    for where, name in wanted:
        if name in exact:
            matched[name] = name
            continue
        found = by_key.get(column_key(name), [])
        if len(found) == 1:
            matched[name] = found[0]
        else:
            unmatched.append(Unmatched(where, name, tuple(found)))
    return matched, unmatched


def describe(unmatched: Sequence[Unmatched], columns: Sequence[str]) -> str:
    """One sentence naming every unmatched column, then the file's columns."""
    parts = []
    for item in unmatched:
        if item.candidates:
            several = ", ".join(repr(c) for c in item.candidates)
            parts.append(f"{item.where}: {item.column!r} matches several columns ({several})")
        else:
            parts.append(f"{item.where}: no column {item.column!r}")
    listed = ", ".join(repr(c) for c in columns) or "(none)"
    return f"{'; '.join(parts)}; the file's columns are {listed}"
