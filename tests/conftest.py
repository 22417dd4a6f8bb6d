"""Shared fixtures: small simulated datasets generated once per test session."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from simulator import DefectRates, SimulationConfig, simulate  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = PROJECT_ROOT / "expectations" / "contracts"
MONTH_START, MONTH_END = dt.date(2026, 1, 1), dt.date(2026, 1, 31)
# Defect rates a little higher than the default so that every kind shows up in a small month.
MONTH_DEFECTS = DefectRates(duplicate=0.02, malformed=0.008, missing_required=0.006, bad_timestamp=0.004,
                            unknown_category=0.006, out_of_range=0.004, alt_timestamp_format=0.05,
                            other_timezone=0.03, late_arrival=0.03)


@pytest.fixture(scope="session")
def sim_month(tmp_path_factory) -> Path:
    """A simulated month with defects switched on: <dir>/landing and <dir>/ground_truth."""
    data = tmp_path_factory.mktemp("sim_month")
    simulate(SimulationConfig(start=MONTH_START, end=MONTH_END, seed=11, scale=0.5, defects=MONTH_DEFECTS),
             data / "landing", data / "ground_truth")
    return data


@pytest.fixture(scope="session")
def contracts():
    from lakehouse.contracts import load_contracts

    return load_contracts(CONTRACTS)
