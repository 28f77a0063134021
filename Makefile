# One command to run, one to test: each creates .venv and installs the project first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench bench-ingest schema install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

schema: $(STAMP)
	$(BIN)/guildgraph schema export

bench: $(STAMP)
	$(BIN)/python bench/bench_api.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) data
