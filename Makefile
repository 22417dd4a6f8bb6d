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

.PHONY: install run test ui bench home summary clean

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

summary: install
	$(PY) -m orchestration.cli summary

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

ui: install home
	$(VENV)/bin/dagster instance concurrency set warehouse 1
	$(VENV)/bin/dagster dev -w workspace.yaml

bench: install
	$(PY) benchmarks/ingest_benchmark.py

clean:
	rm -rf data .dagster_home
