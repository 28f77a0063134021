"""Is this new event record the same event as that stored one?

Titles in either language, the start after converting both to UTC (an event
announced as 19:00 Moscow time and 16:00 UTC starts once), and the place: the
same city or venue, or both online. A weekly meetup's occurrences share a title
and a place but not a start: they stay apart.
"""

from __future__ import annotations

import re
from datetime import timedelta

from rapidfuzz import fuzz

from service.matching.evidence import Score, name_similarity
from service.matching.profiles import EventProfile

CLOSE = timedelta(minutes=15)
DIGITS = re.compile(r"\d+")


def score(new: EventProfile, known: EventProfile, tolerance: timedelta) -> Score:
    result = Score()
    _title(new, known, result)
    _start(new, known, tolerance, result)
    _place(new, known, result)
    _keys(new, known, result)
    return result


def _numbers(profile: EventProfile) -> frozenset[str]:
    """The numbers written in the titles ("#12", "2026", "e2": 12, 2026, 2)."""
    return frozenset(n for forms in profile.forms for t in forms.tokens for n in DIGITS.findall(t))


def _title(new: EventProfile, known: EventProfile, result: Score) -> None:
    # "Meetup #12" and "Meetup #13", "Hackathon 2025" and "Hackathon 2026": one series,
    # two events, however alike the rest of the title is.
    numbers, known_numbers = _numbers(new), _numbers(known)
    if numbers and known_numbers and not numbers & known_numbers:
        shown = f"{'/'.join(sorted(numbers))} vs {'/'.join(sorted(known_numbers))}"
        result.add("title_numbers", -6.0, f"different numbers in the titles ({shown})")
    match = name_similarity(new.forms, known.forms, set())
    similarity, shown = match.similarity, match.shown
    if similarity >= 100:
        result.add("title", 3.0, f"same title {shown}")
    elif similarity >= 85:
        result.add("title", 2.0, f"titles {similarity:.0f}% alike: {shown}")
    elif similarity >= 70:
        result.add("title", 1.0, f"titles {similarity:.0f}% alike: {shown}")
    elif similarity < 50:
        result.add("title", -3.0, f"titles differ ({similarity:.0f}%): {shown}")


def _start(new: EventProfile, known: EventProfile, tolerance: timedelta, result: Score) -> None:
    apart = abs(new.starts_at - known.starts_at)
    minutes = apart.total_seconds() / 60
    if apart <= CLOSE:
        result.add("start", 3.0, f"starts {minutes:.0f} min apart")
    elif apart <= tolerance:
        result.add("start", 1.5, f"starts {minutes:.0f} min apart")
    elif apart <= timedelta(days=1):
        result.add("start", -3.0, f"starts {minutes:.0f} min apart")
    else:
        result.add("start", -8.0, f"starts {apart.days} days apart")


def _place(new: EventProfile, known: EventProfile, result: Score) -> None:
    if new.online and known.online:
        result.add("place", 1.0, "both online")
    elif new.online != known.online and (new.city or known.city):
        result.add("place", -1.0, "online / in person")
    if new.city and known.city:
        if new.city == known.city:
            result.add("city", 1.0, f"same city {new.city}")
        else:
            result.add("city", -4.0, f"different cities {new.city} / {known.city}")
    if new.venue and known.venue:
        ratio = fuzz.token_set_ratio(new.venue.lower(), known.venue.lower())
        if ratio >= 85:
            result.add("venue", 1.0, f"same venue {new.venue!r}")


def _keys(new: EventProfile, known: EventProfile, result: Score) -> None:
    for scheme, values in sorted(new.identifiers.items()):
        shared = values & known.identifiers.get(scheme, set())
        if shared:
            result.add("identifier", 4.0, f"same {scheme} {sorted(shared)[0]}")
    if new.url and known.url and new.url.rstrip("/") == known.url.rstrip("/"):
        result.add("url", 2.0, f"same page {new.url}")
