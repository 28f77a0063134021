"""Partner writes: `upsertListings` and `withdrawListings`, bound to the caller's source.

A listing's validation problems are data (one result per item, with field paths);
only whole-request problems are errors: a caller that is not a partner
(`AccessDenied`), a batch over the cap (`UserInputError`) and a misused
idempotency key (`IdempotencyKeyReused`, `IdempotencyKeyInUse`). The service
contract the mutations call is `schema.ports.partner.PartnerWrites`.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import GraphQLError

from schema.context import Info
from schema.enums import EntityType, ListingOutcome, WithdrawOutcome
from schema.listing_input import ListingInput
from schema.ports.partner import UpsertedItem, WithdrawnItem
from schema.relay import to_global_id

MAX_UPSERT = 500
MAX_WITHDRAW = 500
MAX_IDEMPOTENCY_KEY = 255


class IdempotencyKeyReused(GraphQLError):
    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used for a different request; "
            "use a new key for a new request",
            extensions={"code": "IDEMPOTENCY_KEY_REUSED", "argument": "input.idempotencyKey"},
        )


class IdempotencyKeyInUse(GraphQLError):
    def __init__(self) -> None:
        super().__init__(
            "a request with this idempotency key is still running; retry it later",
            extensions={"code": "IDEMPOTENCY_KEY_IN_USE", "argument": "input.idempotencyKey"},
        )


@strawberry.type(description="Why a listing was refused: a path into the mutation input")
class ListingFieldError:
    path: str = strawberry.field(description='E.g. "listings.3.community.name"')
    message: str


_TYPE_NAMES = {
    EntityType.COMMUNITY: "Community",
    EntityType.EVENT: "Event",
    EntityType.STANDARD: "Standard",
}


@strawberry.type(description="What happened to one listing of the batch")
class ListingResult:
    index: int = strawberry.field(description="Position in `listings`")
    external_id: str
    entity_type: EntityType | None = strawberry.field(
        description="Null when the item gave none or several of community, event, standard"
    )
    outcome: ListingOutcome
    entity_id: strawberry.ID | None = strawberry.field(
        description="Global id of the community, event or standard it feeds (null if rejected)"
    )
    errors: list[ListingFieldError]

    @classmethod
    def from_item(cls, item: UpsertedItem) -> ListingResult:
        global_id = None
        if item.entity is not None and item.entity_id is not None:
            global_id = strawberry.ID(to_global_id(_TYPE_NAMES[item.entity], item.entity_id))
        return cls(
            index=item.index,
            external_id=item.external_id,
            entity_type=item.entity,
            outcome=item.outcome,
            entity_id=global_id,
            errors=[ListingFieldError(path=e.path, message=e.message) for e in item.errors],
        )


@strawberry.type
class UpsertListingsPayload:
    results: list[ListingResult] = strawberry.field(description="One per listing, in order")
    created: int
    updated: int
    unchanged: int
    rejected: int

    @classmethod
    def from_items(cls, items: Sequence[UpsertedItem]) -> UpsertListingsPayload:
        outcomes = [item.outcome for item in items]
        return cls(
            results=[ListingResult.from_item(item) for item in items],
            created=outcomes.count(ListingOutcome.CREATED),
            updated=outcomes.count(ListingOutcome.UPDATED),
            unchanged=outcomes.count(ListingOutcome.UNCHANGED),
            rejected=outcomes.count(ListingOutcome.REJECTED),
        )


@strawberry.input
class UpsertListingsInput:
    listings: list[ListingInput] = strawberry.field(
        description=f"At most {MAX_UPSERT}; valid ones are stored even when others are refused"
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "A retry with the same key and the same listings returns the first response "
            "without writing again (keys are kept for a day by default); "
            f"at most {MAX_IDEMPOTENCY_KEY} characters"
        ),
    )


@strawberry.type(description="What happened to one external id")
class WithdrawListingResult:
    index: int
    external_id: str
    outcome: WithdrawOutcome


@strawberry.type
class WithdrawListingsPayload:
    results: list[WithdrawListingResult] = strawberry.field(description="One per id, in order")
    withdrawn: int
    not_found: int

    @classmethod
    def from_items(cls, items: Sequence[WithdrawnItem]) -> WithdrawListingsPayload:
        outcomes = [item.outcome for item in items]
        return cls(
            results=[
                WithdrawListingResult(index=i.index, external_id=i.external_id, outcome=i.outcome)
                for i in items
            ],
            withdrawn=outcomes.count(WithdrawOutcome.WITHDRAWN),
            not_found=outcomes.count(WithdrawOutcome.NOT_FOUND),
        )


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(
        description=(
            f"Create or update up to {MAX_UPSERT} of your listings (partner key). Each goes "
            "through the same validation and matching as connector data."
        )
    )
    async def upsert_listings(
        self, info: Info, input: UpsertListingsInput
    ) -> UpsertListingsPayload:
        items = await info.context.partner.upsert_listings(input.listings, input.idempotency_key)
        return UpsertListingsPayload.from_items(items)

    @strawberry.mutation(
        description=(
            f"Withdraw up to {MAX_WITHDRAW} of your listings (partner key). An entity other "
            "sources still support stays, without your contribution."
        )
    )
    async def withdraw_listings(
        self, info: Info, external_ids: list[str]
    ) -> WithdrawListingsPayload:
        items = await info.context.partner.withdraw_listings(external_ids)
        return WithdrawListingsPayload.from_items(items)
