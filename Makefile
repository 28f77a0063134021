# One command to run, one to test: each creates .venv and installs the project first,
# with every dependency at the exact version pinned in requirements-dev.lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# pip-compile runs in a venv of its own, so `make lock` works before .venv can be
# installed (a new dependency the old lock cannot satisfy) and pip-tools' own
# dependencies (pip, build, setuptools) never constrain the project's. Pinned, so the
# same lock comes out on every machine.
LOCK_VENV := .venv-lock
LOCK_BIN := $(LOCK_VENV)/bin
LOCK_PIP := 26.3
LOCK_PIP_TOOLS := 7.6.2
LOCK_STAMP := $(LOCK_VENV)/.installed-pip-$(LOCK_PIP)-pip-tools-$(LOCK_PIP_TOOLS)
# Linux, CPython 3.11: the locks list what this platform resolves to.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_BIN)/pip-compile --quiet \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

.PHONY: run test check bench bench-ingest eval-matching schema install lock lock-upgrade clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# A changed lock (or pyproject.toml) reinstalls: pip moves every package to its pinned
# version. A package dropped from the lock stays in .venv until `make clean`.
$(STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/guildgraph serve --load-demo-if-empty

test: $(STAMP)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff format --check service schema connectors tests bench
	$(BIN)/ruff check service schema connectors tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

schema: $(STAMP)
	$(BIN)/guildgraph schema export

bench: $(STAMP)
	$(BIN)/python bench/bench_api.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

eval-matching: $(STAMP)
	$(BIN)/python bench/eval_matching.py

$(LOCK_STAMP):
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV) || python3 -m venv $(LOCK_VENV)
	$(LOCK_BIN)/python -m pip install --quiet pip==$(LOCK_PIP) pip-tools==$(LOCK_PIP_TOOLS)
	touch $@

# Re-resolve the locks after a change to the dependencies in pyproject.toml, keeping
# every pin that still fits. requirements.lock is the runtime set (the Docker image);
# requirements-dev.lock adds the dev extra at the same runtime versions.
# One package to its newest: make lock LOCK_ARGS='--upgrade-package httpx'
lock: $(LOCK_STAMP)
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint requirements.lock \
		--output-file requirements-dev.lock pyproject.toml

# Every package to its newest release that pyproject.toml allows.
lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

clean:
	rm -rf $(VENV) $(LOCK_VENV) data
