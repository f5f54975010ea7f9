# tallyhouse — the commands people run. `make run` and `make test` work on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint manifest dev up down status backup dashboard receive bench bench-receiver generate db-stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing tallyhouse and its dependencies into $(VENV) (minutes the first time)..."
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[dev,spark]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install tallyhouse with its dependencies

run: $(STAMP)  ## start the database, generate demo extracts if landing/ is empty, run the job
	$(BIN)/tallyhouse run

test: $(STAMP)  ## the whole test suite on an embedded PostgreSQL
	$(BIN)/python -m pytest

SQL := models data-tests analyses

lint: manifest  ## ruff for Python, sqlfluff (dbt templater, postgres) for SQL, dg check defs
	$(BIN)/ruff check tallyhouse tallyhouse_cli orchestration dashboards tests
	$(BIN)/tallyhouse sqlfluff lint $(SQL)
	PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $(BIN)/dg check defs

manifest: $(STAMP)  ## parse the dbt project into target/manifest.json (the definitions read it)
	$(BIN)/python -c "from tallyhouse.dbt import ensure_manifest; ensure_manifest()"

bench: $(STAMP)  ## stage timings against a bare baseline, e.g. make bench N=1000000
	$(BIN)/tallyhouse bench --transactions $(or $(N),100000) --json bench-results/bench-$(or $(N),100000).json

bench-receiver: $(STAMP)  ## the webhook receiver on loopback: requests/s, p50/p99 at 1, 16, 64 senders
	$(BIN)/tallyhouse bench --receiver --json bench-results/receiver.json

receive: $(STAMP)  ## the webhook receiver on http://127.0.0.1:8000 (secrets from TALLYHOUSE_*; see README)
	$(BIN)/tallyhouse receive

dashboard: $(STAMP)  ## the Streamlit dashboards on http://127.0.0.1:8501
	$(BIN)/tallyhouse dashboard

dev: $(STAMP)  ## the Dagster UI and daemon in one process on http://127.0.0.1:3000 (PORT=3001 for another)
	$(BIN)/tallyhouse dev $(if $(PORT),--port $(PORT))

up: $(STAMP)  ## the database and every service, supervised (tallyhouse up; see README "Run it for real")
	$(BIN)/tallyhouse up

down: $(STAMP)  ## stop every service and the database
	$(BIN)/tallyhouse down

status: $(STAMP)  ## one screen: database, runs, services, feeds, disk; exit 1 when something is wrong
	$(BIN)/tallyhouse status

backup: $(STAMP)  ## warehouse, landing, reports and run history into backups/ (TALLYHOUSE_BACKUP_DIR)
	$(BIN)/tallyhouse backup

generate: $(STAMP)  ## e.g. make generate OUT=/tmp/extracts N=100000
	$(BIN)/tallyhouse generate --out $(OUT) --transactions $(N)

db-stop: $(STAMP)
	$(BIN)/tallyhouse db stop

clean:
	-$(BIN)/tallyhouse down
	rm -rf .tallyhouse landing reports target logs
