"""Checks a source's configuration needs its file for, made when the source is saved.

A CSV registry's mapping names columns, and only the file's header says which it
has: when a source is created, or its configuration changed, the header is read
(the first bytes of the file, through the same fetch policy its syncs use) and every
column the mapping names must be one of the file's, after normalization
(connectors.framework.columns). A name that is not refuses the save, with the
file's columns in the message; never is a field silently left empty.

A file that cannot be read now (the server is down, the file not published yet)
does not stop the save: the problem is logged, and the first sync checks the columns
before it reads a row, failing with the same message. A refusal of the fetch policy
itself (a loopback address, a file outside the allowed roots) does: the source could
not sync either, and the message names the setting that decides it.

For every kind, a local file (a file:// URL, a Singer capture's path) outside the
allowed roots refuses the save with the message its syncs would fail with.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from connectors.csv_registry import CsvRegistryConfig, read_columns
from connectors.framework.columns import match_columns
from connectors.framework.errors import ConnectorError, FatalError, RefusedByPolicy
from connectors.net.fetcher import SafeFetcher
from connectors.net.local_files import local_path, path_under_roots
from connectors.registry import validate_config
from schema.admin.problems import AdminInputProblem
from service.settings import Settings
from service.sync.fetch_policy import explained, fetch_policy

logger = logging.getLogger("guildgraph.admin")

# Saving waits for the check: one attempt, soon given up (a sync retries, a save need not).
CHECK_TIMEOUT_S = 5.0


async def file_problems(
    source_id: str, kind: str, config: dict[str, Any], settings: Settings
) -> list[AdminInputProblem]:
    """What the source's file says is wrong with its configuration (validated already)."""
    model = validate_config(kind, config)
    outside = _outside_roots(model, settings)
    if outside or not isinstance(model, CsvRegistryConfig):
        return outside
    return await _csv_columns(source_id, model, settings)


def _outside_roots(model: BaseModel, settings: Settings) -> list[AdminInputProblem]:
    """The configuration's local files that lie outside the allowed roots."""
    policy = fetch_policy(settings)
    problems = []
    for name in ("url", "urls", "path"):
        value = getattr(model, name, None)
        for index, location in enumerate(value if isinstance(value, list) else [value]):
            if not isinstance(location, str):
                continue
            field = f"config.{name}" + (f".{index}" if isinstance(value, list) else "")
            try:
                path = local_path(location, policy)
                if path is not None:
                    path_under_roots(path, policy.allow_file_roots)
            except RefusedByPolicy as error:
                problems.append(AdminInputProblem(field=field, message=explained(error)))
            except FatalError:
                continue  # not a location this check judges: the sync says what it is
    return problems


async def _csv_columns(
    source_id: str, config: CsvRegistryConfig, settings: Settings
) -> list[AdminInputProblem]:
    policy = fetch_policy(settings).model_copy(
        update={
            "max_attempts": 1,
            "connect_timeout": CHECK_TIMEOUT_S,
            "total_timeout": CHECK_TIMEOUT_S,
            "read_timeout": CHECK_TIMEOUT_S,
        }
    )
    try:
        async with SafeFetcher(policy) as fetcher:
            columns = await read_columns(fetcher, config.url, config)
    except RefusedByPolicy as error:
        return [AdminInputProblem(field="config.url", message=explained(error))]
    except ConnectorError as error:
        logger.warning(
            "source %s: its columns were not checked, the file could not be read (%s); "
            "the first sync checks them",
            source_id,
            error,
        )
        return []
    _, unmatched = match_columns(config.mapping.source_paths(), columns)
    listed = ", ".join(repr(c) for c in columns) or "(none)"
    problems = []
    for item in unmatched:
        if item.candidates:
            several = ", ".join(repr(c) for c in item.candidates)
            message = f"{item.column!r} matches several columns of the file ({several})"
        else:
            message = f"the file has no column {item.column!r}; its columns are {listed}"
        problems.append(AdminInputProblem(field=f"config.mapping.{item.where}", message=message))
    return problems
