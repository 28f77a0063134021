"""Is this new community record the same organisation as that stored one?

The evidence, in the order a person would look at it: the names (across scripts
and languages, abbreviation against full name), identifiers, the website (a
branch's page on its parent's domain is not its parent), city and country, kind
and form, and whether one is a chapter or a member of the other. A shared
registration number or domain is strong evidence, not proof: a club listed under
its university's number has another name and another form.
"""

from __future__ import annotations

from service.matching.evidence import Score, name_similarity
from service.matching.profiles import CommunityProfile


def score(new: CommunityProfile, known: CommunityProfile) -> Score:
    result = Score()
    _names(new, known, result)
    _identifiers(new, known, result)
    _website(new, known, result)
    _place(new, known, result)
    _kind(new, known, result)
    _relation(new, known, result)
    return result


def _names(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    match = name_similarity(new.forms, known.forms, known.signatures)
    similarity, shown = match.similarity, match.shown
    abbreviated = (new.abbreviations & known.acronyms) | (known.abbreviations & new.acronyms)
    same_abbreviation = new.abbreviations & known.abbreviations
    if abbreviated:
        result.add("abbreviation", 3.0, f"{sorted(abbreviated)[0]!r} abbreviates the full name")
    elif same_abbreviation and similarity < 100:
        result.add("abbreviation", 2.0, f"both abbreviated {sorted(same_abbreviation)[0]!r}")
    # A name of several words agreeing is rarer by chance than one word agreeing.
    several = match.words >= 2
    if similarity >= 100:
        result.add("name", 5.0 if several else 4.0, f"same name {shown}")
    elif similarity >= 90:
        result.add("name", 4.0 if several else 3.0, f"names {similarity:.0f}% alike: {shown}")
    elif similarity >= 80:
        result.add("name", 1.5, f"names {similarity:.0f}% alike: {shown}")
    elif similarity < 60 and not abbreviated and _full_names(new) and _full_names(known):
        # An abbreviation says nothing against a full name it does not abbreviate.
        result.add("name", -3.0, f"names differ ({similarity:.0f}%): {shown}")


def _full_names(profile: CommunityProfile) -> bool:
    return any(f.abbreviation is None for f in profile.forms) or not profile.forms


def _identifiers(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    for scheme, values in sorted(new.identifiers.items()):
        theirs = known.identifiers.get(scheme)
        if not theirs:
            continue
        shared = values & theirs
        if shared:
            result.add("identifier", 4.0, f"same {scheme} {sorted(shared)[0]}")
        else:
            result.add("identifier", -5.0, f"different {scheme}: {sorted(values)[0]}")


def _website(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    if new.site is None or not known.domains:
        return
    if new.site.domain not in known.domains:
        result.add("website", -1.0, f"different websites ({new.site.domain})")
        return
    if known.site is not None and known.site.domain == new.site.domain:
        if new.site.path != known.site.path:
            # One lives under the other's site: a branch or a project, not the same body.
            paths = f"/{new.site.path} vs /{known.site.path}"
            result.add("website", -3.0, f"same domain, different pages {paths}")
            return
    result.add("website", 3.0, f"same website {new.site.domain}")


def _place(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    if new.city and known.city:
        if new.city == known.city:
            result.add("city", 1.0, f"same city {new.city}")
        else:
            result.add("city", -4.0, f"different cities {new.city} / {known.city}")
    if new.countries and known.countries and not new.countries & known.countries:
        result.add("country", -3.0, "no country in common")


def _kind(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    if new.kind and known.kind:
        if new.kind == known.kind:
            result.add("kind", 0.5, f"both {new.kind}")
        else:
            result.add("kind", -1.0, f"{new.kind} / {known.kind}")
    if new.form and known.form:
        if new.form == known.form:
            result.add("form", 0.5, f"both {new.form}")
        elif new.formality != known.formality:
            result.add("form", -2.0, f"{new.form} / {known.form}")
        else:
            result.add("form", -1.0, f"{new.form} / {known.form}")


def _relation(new: CommunityProfile, known: CommunityProfile, result: Score) -> None:
    if new.chapter != known.chapter:
        result.add("chapter", -4.0, "one is a chapter or branch, the other is not")
    if known.entity_id is not None and known.entity_id in new.member_of:
        result.add("parent", 0.0, "the new record is a member of this one")
        result.hard_negative = True
    if new.entity_id is not None and new.entity_id in known.member_of:
        result.add("parent", 0.0, "this one is a member of the new record")
        result.hard_negative = True
