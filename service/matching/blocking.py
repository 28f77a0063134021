"""Blocking keys: how a new record finds the few stored entities it may be.

Each entity stores its blocking keys in `match_keys` beside its hard keys (one
multikey index serves both), and a new record asks for its own: the candidates are
the entities sharing at least one key, found by one indexed `$in`, never by
comparing every pair. A key is chosen to be shared by records of one real-world
entity and by few others:

communities
  ~n:<signature>     the name's sorted canonical tokens (word order, script,
                     transliteration, legal form and quotes do not change it)
  ~q:<short sig>     each token cut to SHORT letters (a typo past them, an
                     inflection); only for names of two tokens or more
  ~af:<acronym>      stored by a full name; asked for by an abbreviation
  ~as:<abbr>         stored by an abbreviation; asked for by a full name's acronyms
  hard keys          identifiers, website domain (service.ingest.matching)
events
  ~w:<token>|<half-day>   each title token in the half-day (UTC) the event starts in;
                          asked for in every half-day within the start tolerance;
                          not the words that only say what kind of event it is
  ~p:<half-day>|<city>    the city (none for online events: see _place)
  hard keys               iCalendar UID and other keys the connector gives
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from service.documents import search_text as text
from service.matching.names import NameForms, canonical
from service.matching.profiles import (
    ABBREVIATION,
    ACRONYM_OF_FULL_NAME,
    SIGNATURE,
    CommunityProfile,
    EventProfile,
)

SHORT = 3
SHORT_SIGNATURE = "~q:"
TITLE_WORD = "~w:"
PLACE = "~p:"
HALF_DAY_S = 12 * 3600

# Words that only say what kind of event it is. Each is in the titles of a large share
# of all events (one in five of the benchmark's 50,000 says "meetup"), so a key on one
# of them finds dozens of stored events in any half-day, none of them this one because
# of it, and every candidate costs the database a document read. A title made of
# nothing else keeps them.
EVENT_KIND_WORDS = frozenset(
    canonical(word)
    for word in text.words(
        """
        meetup meetups митап митапы встреча встречи meeting meetings gathering сходка
        conference конференция конференции summit саммит forum форум congress конгресс
        symposium симпозиум convention expo exhibition выставка fair ярмарка
        hackathon хакатон championship чемпионат competition конкурс contest challenge
        webinar вебинар workshop воркшоп masterclass seminar семинар
        intensive интенсив lecture лекция talk talks доклад course курс training тренинг
        bootcamp буткемп session сессия networking нетворкинг night вечер party
        breakfast завтрак dinner ужин lunch обед festival фестиваль day день week неделя
        """
    )
)


def _short(signature: str) -> str | None:
    tokens = signature.split()
    if len(tokens) < 2:
        return None
    return " ".join(sorted({t[:SHORT] for t in tokens}))


def _name_keys(all_forms: Iterable[NameForms]) -> list[str]:
    keys: list[str] = []
    for forms in all_forms:
        for signature in forms.signatures:
            if signature:
                keys.append(SIGNATURE + signature)
            short = _short(signature)
            if short:
                keys.append(SHORT_SIGNATURE + short)
    return keys


def community_stored(profile: CommunityProfile) -> list[str]:
    """The blocking keys a community stores."""
    keys = _name_keys(profile.forms)
    for forms in profile.forms:
        if forms.abbreviation:
            keys.append(ABBREVIATION + forms.abbreviation)
        else:
            keys += [ACRONYM_OF_FULL_NAME + a for a in sorted(forms.acronyms)]
    return list(dict.fromkeys(keys))


def community_wanted(profile: CommunityProfile) -> list[str]:
    """The blocking keys a new community asks for (its stored ones, acronyms swapped)."""
    keys = _name_keys(profile.forms)
    for forms in profile.forms:
        if forms.abbreviation:
            keys += [ABBREVIATION + forms.abbreviation, ACRONYM_OF_FULL_NAME + forms.abbreviation]
        else:
            keys += [ABBREVIATION + a for a in sorted(forms.acronyms)]
    return list(dict.fromkeys(keys))


def _half_day(profile: EventProfile, shift: timedelta = timedelta()) -> int:
    return int((profile.starts_at + shift).timestamp()) // HALF_DAY_S


def _place(profile: EventProfile) -> str | None:
    # "Online" would be a place every online event shares: its key would find every
    # online event in the half-day. They are found by their titles and hard keys.
    return None if profile.online else profile.city


def _title_tokens(profile: EventProfile) -> list[str]:
    tokens = {t for forms in profile.forms for t in forms.tokens}
    return sorted(tokens - EVENT_KIND_WORDS or tokens)


def _event_keys(profile: EventProfile, buckets: Iterable[int]) -> list[str]:
    tokens = _title_tokens(profile)
    place = _place(profile)
    keys: list[str] = []
    for bucket in buckets:
        keys += [f"{TITLE_WORD}{t}|{bucket}" for t in tokens]
        if place:
            keys.append(f"{PLACE}{bucket}|{place}")
    return keys


def event_stored(profile: EventProfile) -> list[str]:
    return _event_keys(profile, [_half_day(profile)])


def event_wanted(profile: EventProfile, tolerance: timedelta) -> list[str]:
    buckets = sorted({_half_day(profile, -tolerance), _half_day(profile, tolerance)})
    return _event_keys(profile, range(buckets[0], buckets[-1] + 1))
