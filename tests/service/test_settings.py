"""Settings read from the environment: the number of API processes per host."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from service.settings import Settings, available_cores


def test_workers_default_to_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUILDGRAPH_WORKERS", raising=False)
    assert Settings().workers == available_cores()
    assert 1 <= available_cores() <= (os.cpu_count() or 1)


def test_workers_are_set_by_guildgraph_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILDGRAPH_WORKERS", "3")
    assert Settings().workers == 3
    monkeypatch.setenv("GUILDGRAPH_WORKERS", "0")
    with pytest.raises(ValidationError, match="workers"):
        Settings()
