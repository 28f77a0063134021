"""The admin port as the console operator holds it.

Whoever runs `guildgraph` on a host that reaches the database is its operator, so
the CLI acts as an admin: it goes through the same `AdminService` as the GraphQL
admin API (same validation, same masking of secrets, same audit log), never
around it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from rich.console import Console

from schema.admin.problems import InvalidAdminInput
from schema.principal import Principal, Role
from service.admin.service import AdminService
from service.settings import Settings
from service.storage.client import open_storage
from service.sync.worker import WorkerHandle

OPERATOR = Principal(Role.ADMIN, key_id="cli", client="console")
errors = Console(stderr=True)


@contextlib.asynccontextmanager
async def admin_port(settings: Settings) -> AsyncIterator[AdminService]:
    async with open_storage(settings) as storage:
        yield AdminService(storage.db, OPERATOR, settings, WorkerHandle())


def print_problems(title: str, problems: InvalidAdminInput) -> None:
    """One line per field, in the admin API's own words (never wrapped: one field, one
    line, however narrow the terminal)."""
    errors.print(f"[red]{title}[/red]")
    for problem in problems.problems:
        errors.print(
            f"  {problem.field}: {problem.message}", markup=False, highlight=False, soft_wrap=True
        )
