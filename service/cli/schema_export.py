"""`guildgraph schema export`: write the SDL the code defines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schema import root
from service.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


def add_parser(commands: Any) -> None:
    schema = commands.add_parser("schema", help="the GraphQL schema")
    export = schema.add_subparsers(dest="schema_command", required=True).add_parser(
        "export", help="write the SDL"
    )
    export.add_argument("--output", type=Path, default=SCHEMA_FILE)


def run(args: argparse.Namespace, settings: Settings) -> int:
    output: Path = args.output
    output.write_text(root.export_sdl(), encoding="utf-8")
    print(f"wrote {output}")
    return 0
