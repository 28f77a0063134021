"""Errors a client caused; everything else is masked as "Internal server error"."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class UserInputError(GraphQLError):
    """Bad arguments (cursor, id, page size, ...). Shown to the client as is."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        extensions: dict[str, Any] = {"code": "BAD_USER_INPUT"}
        if argument is not None:
            extensions["argument"] = argument
        super().__init__(message, extensions=extensions)


class AccessDenied(GraphQLError):
    """The caller may not do this. One message whatever the target, so a denial never
    tells whether the object exists."""

    def __init__(self) -> None:
        super().__init__(
            "not allowed: this operation needs a key with the right role and scope",
            extensions={"code": "FORBIDDEN"},
        )
