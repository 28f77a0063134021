"""The `guildgraph` command: parses the command line and hands it to one command module."""

from __future__ import annotations

import argparse
import logging
import sys
from types import ModuleType

from service.cli import demo, keys, matches, runs, schema_export, serve, sources, sync, worker
from service.settings import ConfigurationError, Settings

# Each module adds its sub-command (`add_parser`) and runs it (`run(args, settings)`).
COMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "worker": worker,
    "demo": demo,
    "schema": schema_export,
    "sources": sources,
    "sync": sync,
    "runs": runs,
    "keys": keys,
    "matches": matches,
}


# Long-running commands log as a service does; the others print their own results.
_SERVICES = frozenset({"serve", "worker", "demo"})


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="guildgraph", description="guildgraph: industry communities as a GraphQL API"
    )
    commands = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in _SERVICES:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    else:
        # A one-shot command says what it did itself; the log adds only what went wrong.
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        code: int = COMMANDS[args.command].run(args, Settings())
    except ConfigurationError as error:
        print(f"guildgraph: configuration error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
