"""Admin queries and mutations: sources, runs, rejected listings, duplicates and keys.

The per-entity modules beside this one (`sources`, `sync`, `rejected`, `warnings`,
`matches`, `keys`) hold
the types and resolvers; this module composes them. The service contract they call
is `schema.ports.admin.AdminOps`.
"""

from __future__ import annotations

import strawberry

from schema.admin.keys import ApiKeyMutation, ApiKeyQuery
from schema.admin.matches import MatchReviewMutation, MatchReviewQuery
from schema.admin.rejected import RejectedListingMutation, RejectedListingQuery
from schema.admin.sources import SourceMutation, SourceQuery
from schema.admin.sync import SyncRunMutation, SyncRunQuery
from schema.admin.warnings import ListingWarningQuery


@strawberry.type
class AdminQuery(
    SourceQuery,
    SyncRunQuery,
    RejectedListingQuery,
    ListingWarningQuery,
    MatchReviewQuery,
    ApiKeyQuery,
):
    pass


@strawberry.type
class AdminMutation(
    SourceMutation, SyncRunMutation, RejectedListingMutation, MatchReviewMutation, ApiKeyMutation
):
    pass
