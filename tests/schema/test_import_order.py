"""Import hygiene of the `schema` package, each case in a fresh interpreter.

Whichever schema module a process imports first, the schema built afterwards is
the checked-in one (no enum left unregistered, no cycle that breaks on one entry
point); and the payload models a connector needs load no Strawberry at all.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import pytest

import schema
from tests.conftest import REPO

SCHEMA_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(schema.__path__, prefix="schema.")
)

IMPORT_THEN_BUILD = """
import importlib, sys
importlib.import_module(sys.argv[1])
from schema.root import export_sdl
sys.stdout.write(export_sdl())
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@cache
def _runs() -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    # One interpreter per module, all started on the first call so that the cases
    # run side by side rather than a second each, one after another.
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    return {name: pool.submit(_python, IMPORT_THEN_BUILD, name) for name in SCHEMA_MODULES}


def test_every_schema_module_is_checked() -> None:
    assert {"schema.root", "schema.enums", "schema.context", "schema.ports.admin"} <= set(
        SCHEMA_MODULES
    )


@pytest.mark.parametrize("module", SCHEMA_MODULES)
def test_schema_built_after_importing_one_module_first_is_the_checked_in_one(
    module: str,
) -> None:
    result = _runs()[module].result()
    assert result.returncode == 0, result.stderr
    checked_in = (REPO / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert result.stdout == checked_in


def test_payload_models_and_connectors_load_no_strawberry() -> None:
    result = _python(
        "import sys\n"
        "import connectors.registry, schema.models\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'strawberry'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('schema.')))\n"
    )
    assert result.returncode == 0, result.stderr
    strawberry_modules, schema_modules = result.stdout.splitlines()
    assert strawberry_modules == "[]", f"loaded by {schema_modules}"
