# Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install test lint demo ui bench bench-small reliability proto clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/dg check defs
	$(BIN)/pytest -q

demo: install
	$(BIN)/python -m litmos_pipeline.cli demo

ui: install
	$(BIN)/python -m litmos_pipeline.cli ui

bench: install
	$(BIN)/python -m benchmarks.sync --preset all

bench-small: install
	$(BIN)/python -m benchmarks.sync --preset small --json

# The crash and fault matrix (issue 12): minutes, not part of `make test`; writes RELIABILITY.md.
reliability: install
	$(BIN)/python -m benchmarks.reliability

proto: install
	$(BIN)/python -m litmos_pipeline.c1.proto.generate

clean:
	rm -rf $(VENV) data .bench
