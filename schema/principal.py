"""Who is calling: the caller's role and, for a partner, the one source its key is for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    PARTNER = "partner"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: anonymous, or the holder of an API key.

    A partner key belongs to exactly one source (`source_id`); every write it makes
    is filtered by that source in the database, not only checked in a resolver.
    """

    role: Role
    key_id: str | None = None
    source_id: str | None = None
    client: str = "-"


ANONYMOUS = Principal(Role.ANONYMOUS)
