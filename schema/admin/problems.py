"""Expected reasons an admin mutation did not happen, as union members.

Rule for the admin API: a malformed argument (an id that cannot be one, a bad
cursor or page size) is a `UserInputError`, as in the read API; a well-formed
request the data refuses (invalid source spec, unknown source, a run already
active, ...) is one of these types in the mutation's result union, and nothing
was changed. A caller who is not an admin gets `AccessDenied` (an error) before
anything is read.
"""

from __future__ import annotations

import strawberry


@strawberry.interface(description="Why an admin mutation changed nothing")
class AdminProblem:
    message: str


@strawberry.type(description="One invalid field; `field` is a path such as 'config.mapping'")
class AdminInputProblem:
    field: str
    message: str


@strawberry.type(description="The input does not validate; every problem names its field")
class InvalidAdminInput(AdminProblem):
    problems: list[AdminInputProblem]

    @classmethod
    def of(cls, problems: list[AdminInputProblem]) -> InvalidAdminInput:
        listed = "; ".join(f"{p.field}: {p.message}" for p in problems)
        return cls(message=f"invalid input: {listed}", problems=problems)


@strawberry.type
class SourceNotFound(AdminProblem):
    source_id: str

    @classmethod
    def of(cls, source_id: str) -> SourceNotFound:
        return cls(message=f"no source {source_id!r}", source_id=source_id)


@strawberry.type(description="A partner source (partners push) or a disabled one")
class SourceNotSyncable(AdminProblem):
    source_id: str


@strawberry.type(description="Deleting would orphan live data: pass withdrawListings: true")
class SourceHasListings(AdminProblem):
    source_id: str
    applied_listings: int


@strawberry.type
class SyncRunNotFound(AdminProblem):
    run_id: str


@strawberry.type
class ApiKeyNotFound(AdminProblem):
    key_id: str


@strawberry.type(description="No match decision or entity with that id")
class MatchNotFound(AdminProblem):
    missing_id: str = strawberry.field(description="The id (or ids) as given")
