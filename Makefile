# Data Middle Platform: `make run` (the demo), `make test` (the suite), `make ui` (Dagster UI).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False
export PYTHONWARNINGS := ignore

.PHONY: install run test ui bench docs backfill home summary clean serve

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

home: install
	@$(PY) -m orchestration.cli home >/dev/null

run: install home
	$(PY) -m orchestration.cli demo

# A backfill of a date range, e.g. `make backfill START=2026-02-01 END=2026-02-07`: every asset for
# every day of the range as ONE run (each asset has a single-run backfill policy).
backfill: install home
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	$(VENV)/bin/dagster asset materialize -m orchestration.definitions --select '*' --partition-range $(START)...$(END)

summary: install
	$(PY) -m orchestration.cli summary

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

ui: install home
	$(VENV)/bin/dagster instance concurrency set warehouse 1
	$(VENV)/bin/dagster dev -w workspace.yaml

bench: install
	$(PY) benchmarks/ingest_benchmark.py
	$(PY) benchmarks/processing_benchmark.py
	$(PY) benchmarks/quality_benchmark.py

# dbt docs for the marts: models, columns, tests and lineage (built from the warehouse of `make run`).
docs: install
	cd dbt_project && DMP_DBT_DUCKDB_PATH=$${DMP_WAREHOUSE_PATH:-$(CURDIR)/data/warehouse/warehouse.duckdb} \
	  ../$(VENV)/bin/dbt docs generate --profiles-dir . --target-path target/docs
	@echo "dbt docs: dbt_project/target/docs/index.html (serve: cd dbt_project && ../$(VENV)/bin/dbt docs serve --profiles-dir . --target-path target/docs --port 8080)"

# The HTTP data API on the settings' serving snapshot (<serving_dir>/serving.duckdb), at
# DMP_API_HOST:DMP_API_PORT (default 127.0.0.1:8000); keys from DMP_API_KEYS or DMP_API_KEYS_FILE.
serve: install
	$(PY) -m api

clean:
	rm -rf data .dagster_home
