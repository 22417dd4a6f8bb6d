# Data Middle Platform: `make run` (the demo), `make test` (the suite), `make ui` (Dagster UI).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False

.PHONY: install lock bi-install spark-install spark-up spark-down spark-status workers workers-down workers-status superset run test test-fast lint ui bench docs backfill home summary clean retrain serve

# A tool's own environment beside the project's (its dependencies would clash with the project's):
# $(1) the venv, $(2) the directory of its requirements.txt and constraints.txt (the pinned tree).
define side_venv
$(1)/.installed: $(2)/requirements.txt $(2)/constraints.txt
	@test -x $(1)/bin/python || $$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -c $(2)/constraints.txt -r $(2)/requirements.txt
	@touch $$@
endef

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# Re-resolve the dependency tree from pyproject.toml's ranges in a scratch environment and pin it
# into constraints.txt (then `make install` and CI get exactly that).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# The whole dependency tree CI tested, pinned: make install installs through it; make lock rewrites it."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt
	rm -rf .venv-lock

home: install
	@$(PY) -m orchestration.cli home >/dev/null

run: install home
	$(PY) -m orchestration.cli demo

# A backfill of a date range, e.g. `make backfill START=2026-02-01 END=2026-02-07`: a Dagster
# backfill of platform_daily that the daemon executes as ONE run (each asset has a single-run
# backfill policy); waits until it finishes. Needs a daemon (`make ui`, or `make daemon`).
# GROUPS="collection storage" backfills only those layers.
backfill: install home
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD [GROUPS=...]"; exit 2; }
	$(PY) -m orchestration.backfill --start $(START) --end $(END) --wait $(foreach g,$(GROUPS),--group $(g))

summary: install
	$(PY) -m orchestration.cli summary

# bi-install: tests/test_bi.py opens the snapshot with the BI environment's DuckDB and runs Superset.
test: install bi-install spark-install
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests that need no Dagster run, dbt build, server or browser (under 2 minutes on 2 cores).
test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# ruff (lint and format) on the Python, sqlfluff on the dbt models and tests (dbt templater: it
# compiles the models with dbt itself, against a scratch DuckDB file).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p dbt_project/target
	DMP_DBT_DUCKDB_PATH=$(CURDIR)/dbt_project/target/lint.duckdb $(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/tests

# The Dagster UI (and a daemon) on the instance `make run` writes to: `make ui [UI_PORT=3000] [UI_HOST=127.0.0.1]`.
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: install home
	@echo "Dagster UI on http://$(UI_HOST):$(UI_PORT)/ with DAGSTER_HOME=$(DAGSTER_HOME)"
	$(VENV)/bin/dagster instance concurrency set warehouse 1
	$(VENV)/bin/dagster dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

bench: install spark-install
	$(PY) benchmarks/run_benchmark.py
	$(PY) benchmarks/ingest_benchmark.py
	$(PY) benchmarks/collection_paths_benchmark.py
	$(PY) benchmarks/processing_benchmark.py
	$(PY) benchmarks/dbt_invocation_benchmark.py
	$(PY) benchmarks/quality_benchmark.py
	$(PY) benchmarks/model_benchmark.py
	$(PY) benchmarks/api_benchmark.py
	$(PY) benchmarks/spark_benchmark.py

# Retrain the retention and demand models now (what the weekly schedule runs): train, gate,
# promote, re-score, refresh the profile marts and the serving snapshot.
retrain: install home
	$(VENV)/bin/dagster job execute -m orchestration.definitions -j model_training

# Apache Superset on the serving snapshot (its own environment, .venv-bi, with the older DuckDB
# that BI tools ship): `make superset [SUPERSET_PORT=8088]`, then log in as admin (the password is
# in <data_dir>/superset/admin_password). Publish a snapshot first (`make run`).
BI_VENV ?= .venv-bi
SUPERSET_PORT ?= 8088
$(eval $(call side_venv,$(BI_VENV),deploy/superset))

bi-install: $(BI_VENV)/.installed

superset: install bi-install
	$(BI_VENV)/bin/python deploy/superset/bootstrap.py --serve --port $(SUPERSET_PORT) \
	  --home "$$($(PY) -c 'from core.settings import Settings; print(Settings().data_dir / "superset")')" \
	  --snapshot "$$($(PY) -c 'from core.settings import Settings; print(Settings().serving_dir / "serving.duckdb")')"

# Apache Spark, the engine past one machine (DMP_ENGINE=spark; docs/scaling.md): its own environment
# (.venv-spark: pyspark and dbt-spark), and a standalone cluster on this machine: one master,
# DMP_SPARK_WORKERS workers (2) and the Thrift server dbt connects to. Needs Java 17+.
SPARK_VENV ?= .venv-spark
$(eval $(call side_venv,$(SPARK_VENV),deploy/spark))

spark-install: $(SPARK_VENV)/.installed

spark-up: install spark-install
	$(PY) -m core.spark up

spark-down: install
	$(PY) -m core.spark down

spark-status: install
	@$(PY) -m core.spark status

# Celery workers for DMP_EXECUTOR=celery (docs/scaling.md): DMP_CELERY_WORKERS (2) processes that
# take the steps of every run from DMP_CELERY_BROKER (Redis on 127.0.0.1:6379). They read the same
# DMP_* settings and DAGSTER_HOME as the runs they serve: start them from the same environment.
workers: install home
	$(PY) -m orchestration.workers up

workers-down: install
	$(PY) -m orchestration.workers down

workers-status: install
	@$(PY) -m orchestration.workers status

# dbt docs for the marts: models, columns, tests, lineage and the catalog, into <data_dir>/docs/dbt/
# (read from a copy of the warehouse, so a load is never blocked by the docs).
docs: install
	$(PY) -m orchestration.cli docs

# The HTTP data API on the settings' serving snapshot (<serving_dir>/serving.duckdb), at
# DMP_API_HOST:DMP_API_PORT (default 127.0.0.1:8000); keys from DMP_API_KEYS or DMP_API_KEYS_FILE.
serve: install
	$(PY) -m api

# Server deployment (docs/operations.md): DMP_INSTANCE=postgres and DMP_POSTGRES_URL set, then
# `make server-home` once, and `make code-server`, `make daemon`, `make webserver` as three processes.
DMP_CODE_SERVER_HOST ?= 127.0.0.1
DMP_CODE_SERVER_PORT ?= 4266
WEBSERVER_HOST ?= 127.0.0.1
WEBSERVER_PORT ?= 3000
export DMP_CODE_SERVER_HOST DMP_CODE_SERVER_PORT
SERVER_WORKSPACE := deploy/workspace-server.yaml
.PHONY: server-home code-server daemon webserver

server-home: install
	$(PY) -m orchestration.instance write --pools
	$(PY) -m orchestration.instance show

code-server: install home
	$(VENV)/bin/dagster code-server start -m orchestration.definitions -h $(DMP_CODE_SERVER_HOST) \
	  -p $(DMP_CODE_SERVER_PORT) --location-name data_middle_platform

daemon: install home
	$(VENV)/bin/dagster-daemon run -w $(SERVER_WORKSPACE)

webserver: install home
	$(VENV)/bin/dagster-webserver -w $(SERVER_WORKSPACE) -h $(WEBSERVER_HOST) -p $(WEBSERVER_PORT)

clean:
	rm -rf data .dagster_home
