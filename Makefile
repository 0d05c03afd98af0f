# apiflag developer commands. Everything creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export APIFLAG_HOME ?= $(CURDIR)/.apiflag
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export PYTHONHASHSEED := 0

.PHONY: setup demo test test-slow lint typecheck bench schemas clean ci

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found (set PYTHON=...)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install apiflag with its dev tools

demo: $(STAMP) ## generate a small world, train and promote a demo model, run one night, print the queue
	$(BIN)/apiflag demo

test: $(STAMP) ## the default suite (slow tests excluded)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests flows benchmarks
	$(BIN)/ruff format --check src tests flows benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) ## benchmarks; figures go to benchmarks/results/*.json and the README
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run

schemas: $(STAMP)
	$(BIN)/apiflag schemas export --out schemas

ci: test lint typecheck

clean:
	rm -rf .apiflag .prefect .pytest_cache .mypy_cache .ruff_cache
