"""`guildgraph sources ...`, `sync` and `runs` as a new user runs them: the real command
in a child process, a registry on loopback HTTP, output read in an 80-column terminal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.registry import KINDS
from service.sync.sources import SourceSpec
from tests.conftest import REPO
from tests.connectors.loopback import loopback_server, static

REGISTRY = "ОГРН;Наименование;Сайт;Дата регистрации\n".encode("cp1251") + (
    "1027700000011;Ассоциация разработчиков;www.devs.example.org;12.05.1998\n"
    "1027700000022;Союз инженеров;нет сайта;30.02.2021\n"
).encode("cp1251")
LOOPBACK = {"GUILDGRAPH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32"]'}


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def guildgraph(mongo_uri: str, database: str, *args: str, **settings: str) -> Ran:
    """The command in a child process (awaited, so loopback servers of this loop answer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDGRAPH_")}
    env |= {"MONGODB_URI": mongo_uri, "GUILDGRAPH_DATABASE": database, "COLUMNS": "80"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli.main",
        *args,
        cwd=REPO,
        env={**env, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def source_file(tmp_path: Path, url: str, **fields: Any) -> str:
    mapping = {
        "entity": "community",
        "external_id": "ОГРН",
        "fields": {
            "name.ru": "Наименование",
            "kind": {"value": "national"},
            "form": {"value": "association"},
            "website": "Сайт",
            "founded_year": {"source": "дата РЕГИСТРАЦИИ", "transform": "year"},
            **fields,
        },
    }
    spec = {
        "id": "nko",
        "name": "Реестр НКО",
        "family": "association",
        "kind": "csv",
        "config": {"url": url, "mapping": mapping},
    }
    path = tmp_path / f"nko-{len(fields)}.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return str(path)


def problem_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.startswith("  ")]


async def test_sources_kinds_shows_each_kinds_settings_and_an_example_that_registers(
    mongo_uri: str,
) -> None:
    shown = await guildgraph(mongo_uri, "cli_kinds", "sources", "kinds")
    assert shown.code == 0, shown.stderr
    for kind in KINDS:
        assert re.search(rf"^{kind}: ", shown.stdout, re.MULTILINE), kind
    assert "  url (text, required) - the registry file: http(s), or file://" in shown.stdout
    assert "  urls (list of text, required)" in shown.stdout  # JSON-LD pages
    one = await guildgraph(mongo_uri, "cli_kinds", "sources", "kinds", "csv")
    example = one.stdout[one.stdout.index("{") : one.stdout.rindex("}") + 1]
    SourceSpec.model_validate(json.loads(example))  # what it shows registers as it is
    unknown = await guildgraph(mongo_uri, "cli_kinds", "sources", "kinds", "ftp")
    assert unknown.code == 2
    assert "no connector kind 'ftp'; known: csv, json_api" in unknown.stderr


async def test_sources_add_says_each_problem_on_one_line_in_plain_words(
    mongo_uri: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    config = {
        "url": "registry.example.org/r.csv",
        "delimiter": ";;",
        "sheet": 1,
        "mapping": {
            "entity": "comunity",
            "fields": {"kind": {"source": "a", "value": "b"}, "form": {"source": "f", "split": ""}},
        },
    }
    spec = {"id": "Bad Id", "name": "x", "family": "association", "kind": "csv", "config": config}
    bad.write_text(json.dumps(spec))

    added = await guildgraph(mongo_uri, "cli_plain", "sources", "add", str(bad), COLUMNS="40")

    assert added.code == 2
    assert problem_lines(added.stderr) == [
        "id: 'Bad Id' is not a source id: use lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit, at most 63 characters (e.g. 'nko-registry')",
        "config.url: must be an absolute http(s) URL or a file:// URL of a local source",
        "config.mapping.entity: 'comunity' is not one of 'community', 'event' or 'standard'",
        "config.mapping.external_id: is required",
        "config.mapping.fields.kind: give exactly one of 'source' or 'value'",
        "config.mapping.fields.form.split: give non-empty separators, e.g. ';' or [';', ',']",
        "config.delimiter: one character other than a quote or a line break, e.g. ';'",
        "config.sheet: is not a setting here; the settings are: checkpoint_every, delimiter, "
        "encoding, mapping, stream, url",
    ]
    for noise in ("Input should", "Field required", "type=", "function-after", ".str:"):
        assert noise not in added.stderr


async def test_cli_commands_read_the_servers_settings_and_fit_80_columns(
    mongo_uri: str, tmp_path: Path
) -> None:
    database = "cli_settings"
    async with loopback_server({"/reestr.csv": static(REGISTRY)}) as server:
        url = server.url("/reestr.csv")
        spec = source_file(tmp_path, url)

        # Without the setting the server would need for it, the CLI refuses it as the
        # server does, naming the setting.
        refused = await guildgraph(mongo_uri, database, "sources", "add", spec)
        assert refused.code == 2
        [line] = problem_lines(refused.stderr)
        assert line.startswith("config.url: refused to connect to 127.0.0.1: loopback address")
        assert "GUILDGRAPH_FETCH_ALLOWED_NETWORKS" in line

        # A mapping naming a column the file does not have: refused, the columns listed.
        missing = source_file(tmp_path, url, city="Город")
        wrong = await guildgraph(mongo_uri, database, "sources", "add", missing, **LOOPBACK)
        assert wrong.code == 2
        assert problem_lines(wrong.stderr) == [
            "config.mapping.fields.city: the file has no column 'Город'; its columns are "
            "'ОГРН', 'Наименование', 'Сайт', 'Дата регистрации'"
        ]

        added = await guildgraph(mongo_uri, database, "sources", "add", spec, **LOOPBACK)
        assert added.code == 0, added.stderr

        # `sync` reads the same settings: unset, the run fails naming it; set, it runs.
        failed = await guildgraph(mongo_uri, database, "sync", "nko")
        assert failed.code == 1
        assert "GUILDGRAPH_FETCH_ALLOWED_NETWORKS" in failed.stdout
        synced = await guildgraph(mongo_uri, database, "sync", "nko", "--full", **LOOPBACK)
        assert synced.code == 0, synced.stderr

    assert synced.stdout.splitlines()[:3] == [
        synced.stdout.splitlines()[0],
        "  read 2  created 2  updated 0  unchanged 0  rejected 0  withdrawn 0",
        "  warnings 2",
    ]
    assert synced.stdout.startswith("nko: succeeded (full run, ")
    assert "guildgraph sources warnings nko" in synced.stdout
    warned = await guildgraph(mongo_uri, database, "sources", "warnings", "nko")
    assert "1027700000022  founded_year = \"30.02.2021\": '30.02.2021' is not a date" in (
        warned.stdout
    )
    assert '1027700000022  website = "нет сайта"' in warned.stdout

    runs = await guildgraph(mongo_uri, database, "runs")
    listed = await guildgraph(mongo_uri, database, "sources", "list")
    for output in (runs.stdout, listed.stdout):
        lines = output.rstrip("\n").splitlines()
        assert all(len(line) <= 80 for line in lines), output
    # One line per run, newest first, nothing cut short.
    assert [line.split()[2:5] for line in runs.stdout.splitlines()[2:]] == [
        ["nko", "full", "succeeded"],
        ["nko", "incr", "failed"],
    ]
    header, _, row = listed.stdout.splitlines()[:3]
    assert header.split() == [
        "id",
        "kind",
        "on",
        "schedule",
        "last",
        "run",
        "started",
        "read",
        "rej",
        "warn",
    ]
    assert row.split()[:5] == ["nko", "csv", "yes", "-", "succeeded"]
    assert row.split()[-3:] == ["2", "0", "2"]
