"""`guildgraph keys create|list|revoke` and `guildgraph worker`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from schema.context import Role
from service.auth.keys import KeyRequestError, create_key, key_secret, list_keys, revoke_key
from service.settings import Settings
from service.storage.client import open_storage
from service.sync.fetch_policy import fetcher_factory
from service.sync.worker import Worker

console = Console()


def add_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys for partners and admins")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key (printed once)")
    create.add_argument("--role", choices=[Role.PARTNER.value, Role.ADMIN.value], required=True)
    create.add_argument("--source", help="the partner source the key writes to")
    create.add_argument("--label", default="", help="who holds it")
    actions.add_parser("list", help="every key (never the key itself)")
    actions.add_parser("revoke", help="revoke a key at once").add_argument("key_id")
    commands.add_parser("worker", help="run a sync worker (no API); stop with SIGTERM")


async def keys_command(settings: Settings, args: argparse.Namespace) -> int:
    async with open_storage(settings) as storage:
        db = storage.db
        try:
            if args.keys_command == "create":
                new = await create_key(
                    db, key_secret(settings), Role(args.role), args.source, args.label
                )
                console.print(f"key id {new.key_id} ({new.role.value}, source {new.source_id})")
                console.print("the key (shown once, store it now):")
                print(new.key)
            elif args.keys_command == "list":
                table = Table("id", "role", "source", "label", "created", "revoked")
                for key in await list_keys(db):
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
            else:
                await revoke_key(db, args.key_id)
                console.print(f"revoked {args.key_id}")
        except KeyRequestError as error:
            Console(stderr=True).print(f"[red]error:[/red] {error}")
            return 2
    return 0


async def worker_command(settings: Settings) -> int:
    """Run syncs until SIGTERM/SIGINT, then give the current run back and exit."""
    async with open_storage(settings) as storage:
        worker = Worker(
            storage.db,
            fetcher_factory(settings),
            poll_s=settings.worker_poll_s,
            lease_ttl=timedelta(seconds=settings.lease_ttl_s),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        worker.start()
        await stop.wait()
        await worker.stop(settings.shutdown_timeout_s)
    return 0
