"""API keys (admin): list, create (the plain key is shown once) and revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.admin.problems import ApiKeyNotFound, InvalidAdminInput
from schema.cache_control import ADMIN_ONLY
from schema.context import Info
from schema.documents import ApiKeyView
from schema.enums import ApiKeyRole


@strawberry.type(description="An API key's record; the key itself is never stored")
class ApiKey:
    id: strawberry.ID
    role: ApiKeyRole
    source_id: str | None = strawberry.field(description="The partner source a key belongs to")
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @strawberry.field
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_doc(cls, doc: ApiKeyView) -> ApiKey:
        return cls(
            id=strawberry.ID(doc["_id"]),
            role=ApiKeyRole(doc["role"]),
            source_id=doc.get("source_id"),
            label=doc.get("label") or "",
            created_at=doc["created_at"],
            revoked_at=doc.get("revoked_at"),
        )


@strawberry.type(description="A new key: `key` is shown this once and cannot be read again")
class NewApiKey:
    key: str
    api_key: ApiKey


CreateApiKeyResult = Annotated[
    NewApiKey | InvalidAdminInput, strawberry.union("CreateApiKeyResult")
]
RevokeApiKeyResult = Annotated[ApiKey | ApiKeyNotFound, strawberry.union("RevokeApiKeyResult")]


@strawberry.type
class ApiKeyQuery:
    @strawberry.field(
        description="Every key's record, newest first; no secrets (admin)", directives=[ADMIN_ONLY]
    )
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_doc(doc) for doc in await info.context.admin.api_keys()]


@strawberry.type
class ApiKeyMutation:
    @strawberry.mutation(description="Create a key; a partner key needs its partner source (admin)")
    async def create_api_key(
        self, info: Info, role: ApiKeyRole, source_id: str | None = None, label: str = ""
    ) -> CreateApiKeyResult:
        result = await info.context.admin.create_api_key(role, source_id, label)
        if isinstance(result, InvalidAdminInput):
            return result
        key, doc = result
        return NewApiKey(key=key, api_key=ApiKey.from_doc(doc))

    @strawberry.mutation(description="Revoke a key: it stops working at once (admin)")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyResult:
        result = await info.context.admin.revoke_api_key(str(id))
        return ApiKey.from_doc(result) if isinstance(result, dict) else result
