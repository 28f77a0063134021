"""`guildgraph sources add|list|show|disable`, through the admin port."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from schema.admin.problems import InvalidAdminInput
from schema.enums import SourceFamily
from schema.inputs import SourceInput
from service.cli.operator import admin_port, errors, print_problems
from service.errors import ServiceError
from service.settings import Settings


def add_parser(commands: Any) -> None:
    sources = commands.add_parser("sources", help="register and inspect sources")
    actions = sources.add_subparsers(dest="sources_command", required=True)
    add = actions.add_parser("add", help="register a source from a JSON file")
    add.add_argument("file", type=Path, help="id, name, family, kind, config, schedule, ...")
    actions.add_parser("list", help="every source with its last run")
    for name, text in (
        ("show", "one source (secrets masked)"),
        ("disable", "stop syncing a source"),
    ):
        actions.add_parser(name, help=text).add_argument("source_id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.sources_command == "add":
        try:
            spec = read_source_file(args.file)
        except SourceFileError as error:
            errors.print(f"[red]invalid source {args.file}:[/red] {error}", highlight=False)
            return 2
        return asyncio.run(_add(settings, spec))
    if args.sources_command == "list":
        return asyncio.run(_list(settings))
    if args.sources_command == "show":
        return asyncio.run(_show(settings, args.source_id))
    return asyncio.run(_disable(settings, args.source_id))


class SourceFileError(ServiceError):
    """A source file that is not a JSON object with the fields of `SourceInput`."""


_FIELDS = {f.name for f in fields(SourceInput)}
_REQUIRED = ("id", "name", "family", "kind")


def read_source_file(path: Path) -> SourceInput:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SourceFileError(f"cannot read it: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SourceFileError(f"not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(raw, dict):
        raise SourceFileError("it must hold one JSON object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise SourceFileError(f"unknown field(s) {', '.join(unknown)}; known: {sorted(_FIELDS)}")
    missing = [name for name in _REQUIRED if name not in raw]
    if missing:
        raise SourceFileError(f"missing field(s) {', '.join(missing)}")
    try:
        family = SourceFamily(raw["family"])
    except ValueError:
        known = ", ".join(f.value for f in SourceFamily)
        raise SourceFileError(f"family: {raw['family']!r} is not one of {known}") from None
    return SourceInput(**{**raw, "family": family})


async def _add(settings: Settings, spec: SourceInput) -> int:
    async with admin_port(settings) as admin:
        result = await admin.create_source(spec)
    if isinstance(result, InvalidAdminInput):
        print_problems(f"source {spec.id!r} was not registered:", result)
        return 2
    errors.print(f"registered [bold]{spec.id}[/bold] ({spec.kind})")
    return 0


async def _list(settings: Settings) -> int:
    table = Table("id", "kind", "on", "schedule", "last run")
    async with admin_port(settings) as admin:
        for source in await admin.sources():
            last = await admin.last_run(source["_id"])
            table.add_row(
                source["_id"],
                source["kind"],
                "yes" if source["enabled"] else "no",
                source.get("schedule") or "-",
                f"{last['status']} {last['created_at']:%Y-%m-%d %H:%M}" if last else "never",
            )
    Console().print(table)
    return 0


async def _show(settings: Settings, source_id: str) -> int:
    async with admin_port(settings) as admin:
        source = await admin.source(source_id)
    if source is None:
        errors.print(f"[red]error:[/red] no source {source_id!r}", highlight=False)
        return 2
    Console().print_json(json.dumps(source, default=str, ensure_ascii=False))
    return 0


async def _disable(settings: Settings, source_id: str) -> int:
    async with admin_port(settings) as admin:
        result = await admin.set_source_enabled(source_id, False)
    if not isinstance(result, dict):
        errors.print(f"[red]error:[/red] {result.message}", highlight=False)
        return 2
    errors.print(f"disabled [bold]{source_id}[/bold]")
    return 0
