"""The `guildgraph` command: serve, worker, demo load, schema export, sources, sync, keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from schema import export_sdl
from service.api.app import create_app
from service.cli import keys as cli_keys
from service.cli import sources as cli_sync
from service.demo.dataset import load_demo
from service.demo.sources import sync_demo_sources
from service.settings import ConfigurationError, Settings
from service.storage.client import open_storage

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


class _GracefulServer(uvicorn.Server):
    """Tells the app at the stop signal, so its worker stops claiming runs while
    uvicorn drains the requests in flight (bounded by `timeout_graceful_shutdown`)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    app = create_app(settings, load_demo=args.load_demo_if_empty)

    def begin_shutdown() -> None:
        hook = getattr(app.state, "begin_shutdown", None)
        if hook is not None:
            hook()

    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        loop="uvloop",
        http="httptools",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) or 1,
    )
    # uvicorn re-raises the stop signal once shut down; Ctrl-C then ends here (as
    # uvicorn.run does), SIGTERM with the signal's own exit status.
    with contextlib.suppress(KeyboardInterrupt):
        _GracefulServer(config, begin_shutdown).run()
    return 0


async def _demo_load(settings: Settings) -> int:
    async with open_storage(settings) as storage:
        results = await load_demo(storage.db)
        for run in await sync_demo_sources(storage.db):
            print(f"source {run['source_id']:<24} {run['status']:<20} {run['counts']}")
    counts = Counter((r.entity.value, r.outcome.value) for r in results)
    for (entity, outcome), count in sorted(counts.items()):
        print(f"{entity:<10} {outcome:<10} {count}")
    rejected = [r for r in results if r.outcome.value == "rejected"]
    for result in rejected:
        print(f"rejected {result.external_id}: {result.errors}", file=sys.stderr)
    return 1 if rejected else 0


def _schema_export(output: Path) -> int:
    output.write_text(export_sdl(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="guildgraph", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the GraphQL API")
    serve.add_argument("--host", help="bind address (default: GUILDGRAPH_HOST)")
    serve.add_argument("--port", type=int, help="port (default: GUILDGRAPH_PORT)")
    serve.add_argument(
        "--load-demo-if-empty",
        action="store_true",
        help="load the demo dataset when the database has no communities",
    )
    demo = commands.add_parser("demo", help="the bundled demo dataset")
    demo.add_subparsers(dest="demo_command", required=True).add_parser(
        "load", help="load (or refresh) the demo dataset"
    )
    schema = commands.add_parser("schema", help="the GraphQL schema")
    export = schema.add_subparsers(dest="schema_command", required=True).add_parser(
        "export", help="write the SDL"
    )
    export.add_argument("--output", type=Path, default=SCHEMA_FILE)
    cli_sync.add_commands(commands)
    cli_keys.add_commands(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except ConfigurationError as error:
        print(f"guildgraph: configuration error: {error}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "schema":
        return _schema_export(args.output)
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command in ("sources", "sync", "runs"):
        return asyncio.run(cli_sync.run_command(settings, args))
    if args.command == "keys":
        return asyncio.run(cli_keys.keys_command(settings, args))
    if args.command == "worker":
        return asyncio.run(cli_keys.worker_command(settings))
    return asyncio.run(_demo_load(settings))


if __name__ == "__main__":
    sys.exit(main())
