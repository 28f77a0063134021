"""`guildgraph sources add|update|list|show|disable|kinds|warnings`, through the admin port.

`kinds` shows each connector kind's settings and an example source (the file `add`
takes); `list` fits an 80-column terminal, one source per line with its last run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import fields
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from rich.console import Console

from connectors.examples import EXAMPLES
from connectors.registry import KINDS
from schema.admin.problems import InvalidAdminInput
from schema.enums import SourceFamily
from schema.inputs import SourceInput, SourceUpdate
from service.cli.operator import admin_port, errors, print_problems
from service.cli.runs import compact_table, count, status_word, when
from service.errors import ServiceError
from service.settings import Settings


def add_parser(commands: Any) -> None:
    sources = commands.add_parser("sources", help="register and inspect sources")
    actions = sources.add_subparsers(dest="sources_command", required=True)
    add = actions.add_parser(
        "add",
        help="register a source from a JSON file",
        description="Register a source from a JSON file: id, name, family, kind, config "
        "and optionally schedule, enabled, priority (`guildgraph sources kinds` shows an "
        "example of each kind). A CSV registry's file is read to check its columns.",
    )
    add.add_argument("file", type=Path, help="id, name, family, kind, config, schedule, ...")
    update = actions.add_parser(
        "update",
        help="change a source from a JSON file of the same shape as `add` takes",
        description="Change the source the file's id names: its name, config, schedule, "
        "enabled and priority become the file's (its family and kind stay). A changed "
        "config makes the next sync a full pass.",
    )
    update.add_argument("file", type=Path)
    actions.add_parser("list", help="every source with its last run (status, start in UTC, counts)")
    for name, text in (
        ("show", "one source (secrets masked)"),
        ("disable", "stop syncing a source"),
    ):
        actions.add_parser(name, help=text).add_argument("source_id")
    kinds = actions.add_parser("kinds", help="the connector kinds: their settings and an example")
    kinds.add_argument("kind", nargs="?", help="only this kind")
    warned = actions.add_parser(
        "warnings", help="values a source's kept listings were stored without, and why"
    )
    warned.add_argument("source_id")
    warned.add_argument("--limit", type=int, default=50)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.sources_command == "kinds":
        return show_kinds(args.kind)
    if args.sources_command == "warnings":
        return asyncio.run(_warnings(settings, args.source_id, args.limit))
    if args.sources_command in ("add", "update"):
        try:
            spec = read_source_file(args.file)
        except SourceFileError as error:
            errors.print(f"[red]invalid source {args.file}:[/red] {error}", highlight=False)
            return 2
        if args.sources_command == "update":
            return asyncio.run(_update(settings, spec))
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


async def _update(settings: Settings, spec: SourceInput) -> int:
    changes = SourceUpdate(
        name=spec.name,
        config=spec.config,
        schedule=spec.schedule,
        enabled=spec.enabled,
        priority=spec.priority,
        field_priorities=spec.field_priorities,
    )
    async with admin_port(settings) as admin:
        current = await admin.source(spec.id)
        if current is not None and (current["family"], current["kind"]) != (
            spec.family.value,
            spec.kind,
        ):
            errors.print(
                f"[red]source {spec.id!r} was not changed:[/red] its family and kind stay "
                f"{current['family']} and {current['kind']}",
                highlight=False,
            )
            return 2
        result = await admin.update_source(spec.id, changes)
    if isinstance(result, InvalidAdminInput):
        print_problems(f"source {spec.id!r} was not changed:", result)
        return 2
    if not isinstance(result, dict):
        errors.print(f"[red]error:[/red] {result.message}", highlight=False)
        return 2
    errors.print(f"changed [bold]{spec.id}[/bold]")
    return 0


async def _list(settings: Settings) -> int:
    table = compact_table()
    for name in ("id", "kind", "on", "schedule", "last run", "started"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=24)
    for name in ("read", "rej", "warn"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    async with admin_port(settings) as admin:
        for source in await admin.sources():
            last = await admin.last_run(source["_id"])
            table.add_row(
                source["_id"],
                source["kind"],
                "yes" if source["enabled"] else "no",
                source.get("schedule") or "-",
                status_word(last["status"]) if last else "never",
                when(last.get("started_at") or last["created_at"]) if last else "-",
                *(
                    (count(last["counts"], n) for n in ("fetched", "rejected", "warnings"))
                    if last
                    else ("-", "-", "-")
                ),
            )
    Console().print(table)
    return 0


def show_kinds(only: str | None) -> int:
    """Each kind: what it reads, its settings (required ones first), an example source."""
    if only is not None and only not in KINDS:
        errors.print(
            f"[red]error:[/red] no connector kind {only!r}; known: {', '.join(KINDS)}",
            highlight=False,
        )
        return 2
    out = Console(soft_wrap=True)
    for name, kind in KINDS.items():
        if only is not None and name != only:
            continue
        out.print(f"[bold]{name}[/bold]: {kind.description}", highlight=False)
        for line in settings_lines(kind.config):
            out.print(f"  {line}", markup=False, highlight=False)
        out.print("  example (guildgraph sources add FILE, or createSource's input):")
        out.print(compact_json(EXAMPLES[name], 4), markup=False, highlight=False)
        out.print()
    return 0


def compact_json(value: Any, indent: int = 0, width: int = 78) -> str:
    """JSON indented where it must be, on one line where it fits (80 columns)."""
    pad = " " * indent
    flat = json.dumps(value, ensure_ascii=False)
    if len(pad) + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return pad + flat
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [compact_json(item, indent + 2, width) for item in value]
        return pad + "[\n" + ",\n".join(items) + "\n" + pad + "]"
    lines = []
    for key, item in value.items():
        head = f"{inner}{json.dumps(key, ensure_ascii=False)}: "
        rest = compact_json(item, indent + 2, width)
        if len(head) + len(rest.strip()) <= width or not isinstance(item, dict | list):
            lines.append(head + rest.strip())
        else:
            lines.append(head + rest.lstrip())
    return pad + "{\n" + ",\n".join(lines) + "\n" + pad + "}"


def settings_lines(model: type[BaseModel]) -> list[str]:
    """One line per setting: name, type, required or its default, and what it is for."""
    lines = []
    fields = sorted(model.model_fields.items(), key=lambda item: not item[1].is_required())
    for field_name, info in fields:
        if info.is_required():
            need = "required"
        else:
            default = info.get_default(call_default_factory=True)
            need = f"default {json.dumps(default, ensure_ascii=False, default=str)}"
        about = f" - {info.description}" if info.description else ""
        lines.append(f"{field_name} ({type_words(info.annotation)}, {need}){about}")
    return lines


def type_words(annotation: Any) -> str:
    """A setting's type as a person says it: "text", "list of text", "mapping"."""
    if annotation is Any:
        return "any value"
    args = [a for a in get_args(annotation) if a is not type(None)]
    origin = get_origin(annotation)
    if origin is Annotated:
        return type_words(args[0])
    if origin in (Union, UnionType):
        return " or ".join(dict.fromkeys(type_words(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (list, tuple):
        return f"list of {type_words(args[0])}" if args else "list"
    if origin is dict:
        return f"object of {type_words(args[1])}" if len(args) > 1 else "object"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(repr(m.value) for m in annotation)
        if issubclass(annotation, BaseModel):
            return "mapping" if annotation.__name__ == "FieldMapping" else "object"
        return _WORDS.get(annotation, annotation.__name__)
    return "value"


_WORDS: dict[type, str] = {
    str: "text",
    int: "whole number",
    float: "number",
    bool: "true/false",
    SecretStr: "secret text",
}


async def _warnings(settings: Settings, source_id: str, limit: int) -> int:
    async with admin_port(settings) as admin:
        page = await admin.listing_warnings(source_id, first=limit, after=None, with_total=True)
    out = Console(soft_wrap=True)
    noun = "warning" if page.total == 1 else "warnings"
    out.print(f"{page.total} {noun} of {source_id} (values left out of kept listings)")
    for doc in page.docs:
        raw = json.dumps(doc.get("raw"), ensure_ascii=False, default=str)
        out.print(
            f"  {doc['external_id']}  {doc['field']} = {raw}: {doc['message']}",
            markup=False,
            highlight=False,
        )
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
