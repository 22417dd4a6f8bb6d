"""Shared fixtures: small simulated datasets generated once per test session."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
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
MONTH_DEFECTS = DefectRates(
    duplicate=0.02,
    malformed=0.008,
    missing_required=0.006,
    bad_timestamp=0.004,
    unknown_category=0.006,
    out_of_range=0.004,
    alt_timestamp_format=0.05,
    other_timezone=0.03,
    late_arrival=0.03,
)


# Fixtures that build the platform through Dagster and dbt (the shared half-year build, a module's own
# build, the server deployment) or start a browser: a test that needs one is `slow`.
SLOW_FIXTURES = {"platform", "built", "deployment", "browser"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sim_month(tmp_path_factory) -> Path:
    """A simulated month with defects switched on: <dir>/landing and <dir>/ground_truth."""
    data = tmp_path_factory.mktemp("sim_month")
    simulate(
        SimulationConfig(start=MONTH_START, end=MONTH_END, seed=11, scale=0.5, defects=MONTH_DEFECTS),
        data / "landing",
        data / "ground_truth",
    )
    return data


@pytest.fixture(scope="session")
def contracts():
    from core.collection.contracts import load_contracts

    return load_contracts(CONTRACTS)


# Half a year of a small business, materialised once through every layer and shared by the tests
# of the model, service and application layers (they only read it).
PLATFORM_START, PLATFORM_END = dt.date(2025, 10, 1), dt.date(2026, 3, 31)
MODEL_JOB = "model_training"


@dataclass
class BuiltPlatform:
    settings: object
    instance: object
    results: dict  # job name -> ExecuteInProcessResult


def assets_in_groups(defs, groups) -> list:
    """The keys of `defs`' assets in the given asset groups (layers), sorted: an asset selection."""
    graph = defs.resolve_asset_graph()
    return sorted(k for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups)


def build_platform(
    root: Path,
    start: dt.date,
    end: dt.date,
    scale: float,
    seed: int,
    jobs: tuple[str, ...] = ("platform_daily", MODEL_JOB),
    **sim,
) -> BuiltPlatform:
    """Simulate [start, end], run the daily job over the range as one run, then the model job."""
    import dagster as dg

    from core.settings import Settings
    from orchestration.definitions import build_definitions
    from orchestration.partitions import range_tags

    simulate(
        SimulationConfig(start=start, end=end, seed=seed, scale=scale, defects=DefectRates.none(), **sim),
        root / "landing",
        root / "ground_truth",
    )
    settings = Settings(
        data_dir=root / "data",
        landing_dir=root / "landing",
        partitions_start=start,
        demo_start=start,
        demo_end=end,
        kpi_targets=PROJECT_ROOT / "expectations" / "kpi_targets.csv",  # a business that states its targets
    )
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    results = {}
    for name in jobs:
        job = defs.resolve_job_def(name)
        tags = range_tags(start, end) if job.partitions_def is not None else {}
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        results[name] = result
    return BuiltPlatform(settings, instance, results)


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> BuiltPlatform:
    """PLATFORM_START..PLATFORM_END, clean data, scale 0.4: every layer materialised (read-only for tests)."""
    return build_platform(tmp_path_factory.mktemp("platform"), PLATFORM_START, PLATFORM_END, scale=0.4, seed=5)
