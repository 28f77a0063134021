"""Admin queries and mutations: sources, runs, rejected listings, keys (issue 4).

The per-entity modules (`schema.sources`, `schema.sync`, `schema.rejected`,
`schema.keys`) hold the types and resolvers; this module composes them. The
service contract they call is `schema.ports.admin.AdminOps`.
"""

from __future__ import annotations

import strawberry

from schema.keys import ApiKeyMutation, ApiKeyQuery
from schema.rejected import RejectedListingMutation, RejectedListingQuery
from schema.sources import SourceMutation, SourceQuery
from schema.sync import SyncRunMutation, SyncRunQuery


@strawberry.type
class AdminQuery(SourceQuery, SyncRunQuery, RejectedListingQuery, ApiKeyQuery):
    pass


@strawberry.type
class AdminMutation(SourceMutation, SyncRunMutation, RejectedListingMutation, ApiKeyMutation):
    pass
