"""Admin queries and mutations: sources, runs, rejected listings and keys.

The per-entity modules beside this one (`sources`, `sync`, `rejected`, `keys`) hold
the types and resolvers; this module composes them. The service contract they call
is `schema.ports.admin.AdminOps`.
"""

from __future__ import annotations

import strawberry

from schema.admin.keys import ApiKeyMutation, ApiKeyQuery
from schema.admin.rejected import RejectedListingMutation, RejectedListingQuery
from schema.admin.sources import SourceMutation, SourceQuery
from schema.admin.sync import SyncRunMutation, SyncRunQuery


@strawberry.type
class AdminQuery(SourceQuery, SyncRunQuery, RejectedListingQuery, ApiKeyQuery):
    pass


@strawberry.type
class AdminMutation(SourceMutation, SyncRunMutation, RejectedListingMutation, ApiKeyMutation):
    pass
