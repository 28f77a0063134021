"""A pair's score: a sum of weighted pieces of evidence, each one stored and shown.

Weights are log-odds in spirit (Fellegi-Sunter): agreement on a feature that
rarely agrees by chance adds much, disagreement on one that should agree takes
much away. `hard_negative` marks what keeps a pair apart whatever else agrees
(a parent and its own member).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz

from service.matching import names


@dataclass(frozen=True)
class Evidence:
    feature: str
    weight: float
    detail: str


@dataclass
class Score:
    evidence: list[Evidence] = field(default_factory=list)
    hard_negative: bool = False

    def add(self, feature: str, weight: float, detail: str) -> None:
        self.evidence.append(Evidence(feature, weight, detail))

    @property
    def total(self) -> float:
        return -100.0 if self.hard_negative else round(sum(e.weight for e in self.evidence), 2)


@dataclass(frozen=True)
class NameMatch:
    similarity: float
    shown: str
    # Words in the shorter of the two names that agreed best.
    words: int


def name_similarity(
    left: list[names.NameForms], right: list[names.NameForms], right_signatures: set[str]
) -> NameMatch:
    """The best agreement between any name of one side and any of the other (0-100),
    and the pair that gave it. `right_signatures` adds names other sources gave."""
    best, shown, words = 0.0, "", 0
    others = {s for f in right for s in f.signatures} | right_signatures
    for signature in sorted({s for f in left for s in f.signatures}):
        for other in sorted(others):
            if not signature or not other:
                continue
            ratio = fuzz.token_sort_ratio(signature, other)
            if ratio > best:
                best, shown = ratio, f"{signature!r} ~ {other!r}"
                words = min(len(signature.split()), len(other.split()))
    return NameMatch(best, shown, words)
