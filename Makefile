# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest openapi bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## Serve the demo on http://127.0.0.1:8000 (SQLite file ./levier.db, jobs in-process).
run: $(STAMP)
	$(BIN)/levier migrate
	$(BIN)/levier demo
	$(BIN)/levier serve --host 127.0.0.1 --port 8000

## Lint, type check and run the whole suite (PostgreSQL + Redis too when
## LEVIER_TEST_DATABASE_URL and LEVIER_TEST_REDIS_URL are set).
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n auto --dist loadgroup --durations=30

## Regenerate openapi/openapi.json and openapi/schema.graphql.
openapi: $(STAMP)
	$(BIN)/levier export-openapi

bench: $(STAMP)
	$(BIN)/python -m bench.outbox_relay
	@test -n "$$LEVIER_BENCH_DATABASE_URL" && test -n "$$LEVIER_BENCH_REDIS_URL" \
		&& $(BIN)/python -m bench.profiles_import \
		|| echo "bench.profiles_import skipped: set LEVIER_BENCH_DATABASE_URL (PostgreSQL runtime role), LEVIER_BENCH_MIGRATION_DATABASE_URL (schema owner) and LEVIER_BENCH_REDIS_URL"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache levier.db levier.db-*
