# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use and
# install from the committed lock (requirements/*.txt, every distribution hash-checked):
# `make run` only what the service needs, `make test` the dev tools too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A stamp named after the lock files it was installed from: a changed lock installs again.
lock_sum = $(shell cat pyproject.toml $(1) | cksum | cut -d' ' -f1)
RUNTIME_STAMP := $(VENV)/.runtime-$(call lock_sum,requirements/build.txt requirements/runtime.txt)
DEV_STAMP := $(VENV)/.dev-$(call lock_sum,requirements/build.txt requirements/dev.txt)
PIP_LOCKED := $(BIN)/python -m pip install --quiet --require-hashes

.PHONY: run test lint typecheck pytest openapi bench clean lock lock-check chart

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml requirements/build.txt requirements/runtime.txt | $(BIN)/python
	$(PIP_LOCKED) -r requirements/build.txt
	$(PIP_LOCKED) -r requirements/runtime.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.runtime-* && touch $@

$(DEV_STAMP): pyproject.toml requirements/build.txt requirements/dev.txt | $(BIN)/python
	$(PIP_LOCKED) -r requirements/build.txt
	$(PIP_LOCKED) -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.dev-* && touch $@

## Serve the demo on http://127.0.0.1:8000 (SQLite file ./levier.db, jobs in-process).
run: $(RUNTIME_STAMP)
	$(BIN)/levier migrate
	$(BIN)/levier demo
	$(BIN)/levier serve --host 127.0.0.1 --port 8000

## Lint, type check and run the whole suite (PostgreSQL + Redis too when
## LEVIER_TEST_DATABASE_URL and LEVIER_TEST_REDIS_URL are set).
test: lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest -n auto --dist loadgroup --durations=30

## Regenerate openapi/openapi.json and openapi/schema.graphql.
openapi: $(DEV_STAMP)
	$(BIN)/levier export-openapi

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.outbox_relay
	@test -n "$$LEVIER_BENCH_DATABASE_URL" && test -n "$$LEVIER_BENCH_REDIS_URL" \
		&& $(BIN)/python -m bench.profiles_import \
		|| echo "bench.profiles_import skipped: set LEVIER_BENCH_DATABASE_URL (PostgreSQL runtime role), LEVIER_BENCH_MIGRATION_DATABASE_URL (schema owner) and LEVIER_BENCH_REDIS_URL"

## Recompile requirements/*.txt after a change of pyproject.toml's dependencies (keeps every pin
## that still fits; `uv pip compile --upgrade-package NAME` by hand to move one).
lock: $(DEV_STAMP)
	UV=$(BIN)/uv requirements/lock.sh write

## Fail when requirements/*.txt no longer match pyproject.toml (CI runs it; asks PyPI).
lock-check: $(DEV_STAMP)
	UV=$(BIN)/uv requirements/lock.sh check

## Render the Helm chart with Helm's engine for every helm/levier/ci/*.yaml and validate it.
chart: $(DEV_STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache levier.db levier.db-*
