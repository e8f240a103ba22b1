# Developer entry points. Everything runs inside ./.venv, built from pyproject.toml.
#   make demo    run the agents demo (offline local provider unless an API key is set)
#   make test    run the test suite (extra pytest arguments: make test PYTEST_ARGS='-k link')

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Only the directories that exist, so lint works on a partial tree.
LINT_PATHS := $(wildcard beamlike elixirchain tests examples bench)

.DEFAULT_GOAL := help

.PHONY: help venv test demo demo-processes bench bench-1m bench-dist bench-agents lint format typecheck check-all clean distclean

help:
	@echo "make demo       run examples/agents_demo.py (1,000 agents, a crash, a stream, a tool)"
	@echo "make demo-processes  run examples/processes_demo.py (the runtime on its own)"
	@echo "make test       run the test suite (PYTEST_ARGS='...' to pass arguments)"
	@echo "make venv       create .venv and install the package with its dev extras"
	@echo "make bench      run the benchmarks (bench/run.py)"
	@echo "make bench-1m   spawn a million processes (bench/million.py)"
	@echo "make bench-dist two nodes as OS processes: round trip, throughput, 2-node speed-up"
	@echo "make bench-agents  agents: memory, start cost, turn overhead, 1,000 HTTP chats, chaos (vs Pydantic AI)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make format     ruff format and ruff check --fix"
	@echo "make typecheck  mypy beamlike elixirchain"
	@echo "make check-all  lint, typecheck and test"
	@echo "make clean      remove caches and build output (distclean also removes .venv)"

venv: $(STAMP)

$(PYTHON):
	$(PY) -m venv $(VENV)

# Re-installs only when pyproject.toml changes; the install is editable, so
# source edits need no re-install. The packages' __init__.py files are listed too:
# setuptools' editable finder maps a package installed while it had no __init__.py
# as a namespace package, and keeps doing so until it is re-installed.
$(STAMP): pyproject.toml $(wildcard beamlike/__init__.py elixirchain/__init__.py) | $(PYTHON)
	$(BIN)/pip install -e '.[dev]'
	touch $@

test: $(STAMP)
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PYTHON) examples/agents_demo.py

demo-processes: $(STAMP)
	$(PYTHON) examples/processes_demo.py

bench: $(STAMP)
	$(PYTHON) bench/run.py

bench-1m: $(STAMP)
	$(PYTHON) bench/million.py

bench-dist: $(STAMP)
	$(PYTHON) bench/dist.py

# Agents vs Pydantic AI (a bench-only extra, installed on first use).
bench-agents: $(STAMP)
	$(PYTHON) -c "import pydantic_ai" 2>/dev/null || $(BIN)/pip install -e '.[bench]'
	$(PYTHON) bench/agents.py

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy beamlike elixirchain

check-all: lint typecheck test

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .tox
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
