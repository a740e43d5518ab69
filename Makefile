# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs
# on a fresh machine (a private uv in .tools, a locked virtual environment in .venv).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint format install clean bench bench-serve bench-traces bench-exploration bench-soak bench-models

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --quiet
	touch $@

demo: install
	$(VENV)/bin/relevo demo

test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: install
	$(VENV)/bin/python benchmarks/ingest.py

bench-serve: install
	$(VENV)/bin/python benchmarks/serve.py

bench-traces: install
	$(VENV)/bin/python benchmarks/traces.py

bench-exploration: install
	$(VENV)/bin/python benchmarks/exploration.py

bench-soak: install
	$(VENV)/bin/python benchmarks/soak.py

bench-models: install
	$(VENV)/bin/python benchmarks/models.py

clean:
	rm -rf $(VENV) $(TOOLS) relevo-data relevo-demo-data
