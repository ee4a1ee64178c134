# The front door. Every target works on a fresh clone: the first one run creates .venv and
# installs the project with the versions pinned in constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PORT ?= 8000

.PHONY: install run test test-fast lint format openapi openapi-check client-check messages migrate check-migrations bench bench-smoke fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

# What serving needs, without the test and lint tools (a dev install covers it too).
$(RUNTIME_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $(RUNTIME_STAMP)

## Serve the API on $(PORT): embedded PostgreSQL unless CARTERA_DATABASE_URL is set,
## migrations applied, demo data loaded once. Development is said here: an unset
## CARTERA_ENV is production, which refuses the demo and the development secrets.
run: $(RUNTIME_STAMP)
	CARTERA_ENV=development PORT=$(PORT) $(BIN)/cartera serve --upgrade --demo

## Every test, against a real PostgreSQL (embedded unless CARTERA_DATABASE_URL is set).
# On every core (pytest-xdist): each worker starts its own embedded server and keeps a
# module's tests together.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

## The inner loop: everything but process kills, faults, races and fuzzing (marked slow).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check app tests alembic bench
	$(BIN)/ruff format --check app tests alembic bench
	$(BIN)/mypy app

format: $(STAMP)
	$(BIN)/ruff check --fix app tests alembic bench
	$(BIN)/ruff format app tests alembic bench

## Write the committed contract from the app.
openapi: $(STAMP)
	$(BIN)/cartera openapi export --output openapi/openapi.json

## Fail when openapi/openapi.json has drifted from the app.
openapi-check: $(STAMP)
	$(BIN)/cartera openapi export --check --output openapi/openapi.json

## The contract compiles: TypeScript types generated from openapi/openapi.json by
## openapi-typescript (default flags) and an example SPA module (clients/typescript/example.ts)
## compiled against them with `tsc --strict`. Needs Node.js and npm; versions pinned in
## clients/typescript/package-lock.json.
CLIENT := clients/typescript
client-check:
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	cd $(CLIENT) && npx --no-install openapi-typescript ../../openapi/openapi.json --output generated/cartera.d.ts
	cd $(CLIENT) && npx --no-install tsc --strict --project tsconfig.json
	@echo "client-check: the contract compiles under tsc --strict"

## Extract the texts marked for translation (N_) into app/locale/cartera.pot and merge them
## into each language's catalogue (app/locale/<locale>/LC_MESSAGES/cartera.po); new texts
## arrive untranslated and a test lists them until a translator fills them in.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-default-keywords --sort-by-file \
		--project=cartera -o app/locale/cartera.pot app
	$(BIN)/pybabel update -i app/locale/cartera.pot -d app/locale -D cartera --width 100 \
		--ignore-obsolete --no-fuzzy-matching

## Apply migrations to the configured (or embedded) database.
migrate: $(STAMP)
	$(BIN)/cartera db upgrade

## Alembic autogenerate finds nothing the models have that the migrations lack.
check-migrations: $(STAMP)
	$(BIN)/cartera db check

## Benchmarks (not part of `make test`): intake of 100,000 rows against a raw COPY, peak
## memory of a 1,000,000-row push, aging 1,000,000 accounts against a hand-written UPDATE,
## the contact check's latency, and the API under wrk against a bare ASGI app, with 1 and 2
## uvicorn workers. Figures in bench/results/<date>-<host>.json, a table and a PNG chart.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

## Every benchmark part at tiny sizes, a few seconds of load: keeps the scripts working.
## One embedded server migrated and seeded once, parts forked from one process that imported
## the scripts, two at a time, the api part's servers starting while the demo loads: ~30-45 s.
bench-smoke: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --smoke

# The bench extra (matplotlib) and wrk, installed once (again when the pins change).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	touch $(BENCH_STAMP)

## Contract fuzzing: schemathesis (every check) against a live server with demo data, as the
## demo manager and the demo bank's system; FUZZ_EXAMPLES per operation, FUZZ_MAX_TIME
## seconds per token. `make test` runs a bounded in-process version (tests/security).
fuzz: $(STAMP)
	$(BIN)/python tests/security/fuzz_live.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
