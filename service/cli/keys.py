"""`guildgraph keys create|list|revoke`, through the admin port."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.table import Table

from schema.enums import ApiKeyRole
from service.cli.operator import admin_port, errors, print_problems
from service.settings import Settings

console = Console()


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys for partners and admins")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key (printed once)")
    create.add_argument("--role", choices=[role.value for role in ApiKeyRole], required=True)
    create.add_argument("--source", help="the partner source the key writes to")
    create.add_argument("--label", default="", help="who holds it")
    actions.add_parser("list", help="every key (never the key itself)")
    actions.add_parser("revoke", help="revoke a key at once").add_argument("key_id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.keys_command == "create":
        return asyncio.run(_create(settings, ApiKeyRole(args.role), args.source, args.label))
    if args.keys_command == "list":
        return asyncio.run(_list(settings))
    return asyncio.run(_revoke(settings, args.key_id))


async def _create(settings: Settings, role: ApiKeyRole, source_id: str | None, label: str) -> int:
    async with admin_port(settings) as admin:
        created = await admin.create_api_key(role, source_id, label)
    if not isinstance(created, tuple):
        print_problems("no key was created:", created)
        return 2
    key, record = created
    console.print(f"key id {record['_id']} ({record['role']}, source {record.get('source_id')})")
    console.print("the key (shown once, store it now):")
    print(key)
    return 0


async def _list(settings: Settings) -> int:
    table = Table("id", "role", "source", "label", "created", "revoked")
    async with admin_port(settings) as admin:
        for key in await admin.api_keys():
            revoked = key.get("revoked_at")
            table.add_row(
                key["_id"],
                key["role"],
                key.get("source_id") or "-",
                key.get("label") or "",
                f"{key['created_at']:%Y-%m-%d %H:%M}",
                f"{revoked:%Y-%m-%d %H:%M}" if revoked else "",
            )
    console.print(table)
    return 0


async def _revoke(settings: Settings, key_id: str) -> int:
    async with admin_port(settings) as admin:
        active = {key["_id"] for key in await admin.api_keys() if not key.get("revoked_at")}
        if key_id not in active:
            errors.print(f"[red]error:[/red] no active key {key_id!r}", highlight=False)
            return 2
        await admin.revoke_api_key(key_id)
    console.print(f"revoked {key_id}")
    return 0
