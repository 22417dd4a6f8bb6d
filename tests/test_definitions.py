"""The definitions load (in process and through the workspace file) with the intended shape."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from core.settings import Settings
from orchestration.definitions import PLATFORM_JOB, build_definitions
from tests.conftest import PROJECT_ROOT


def test_definitions_have_every_source_in_collection_and_storage(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    sources = [
        "orders",
        "users",
        "events",
        "marketing_spend",
        "products",
        "inventory",
        "nps_surveys",
        "support_tickets",
        "experiments",
    ]
    assert {f"lake/{s}" for s in sources} | {f"raw/{s}" for s in sources} <= keys
    for s in sources:
        lake = graph.get(dg.AssetKey(["lake", s]))
        raw = graph.get(dg.AssetKey(["raw", s]))
        assert lake.group_name == "collection" and raw.group_name == "storage"
        assert dg.AssetKey(["lake", s]) in raw.parent_keys
        assert raw.backfill_policy == dg.BackfillPolicy.single_run()
        assert lake.backfill_policy == dg.BackfillPolicy.single_run()
    raw_orders = defs.get_assets_def(dg.AssetKey(["raw", "orders"]))
    assert raw_orders.op.pool == "warehouse", "every warehouse writer is in the warehouse pool"
    assert defs.resolve_job_def(PLATFORM_JOB).partitions_def is not None


def test_settings_are_read_when_called_not_at_import(tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("DMP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DMP_DEMO_END", "2026-01-15")
    settings = get_settings()
    assert settings.warehouse_path == tmp_path / "warehouse" / "warehouse.duckdb"
    assert str(settings.demo_end) == "2026-01-15"
    monkeypatch.setenv("DMP_DEMO_END", "2025-01-01")
    try:
        get_settings()
    except ValueError as exc:
        assert "DMP_DEMO_END" in str(exc)
    else:
        raise AssertionError("an end before the start must be rejected")


def test_workspace_loads_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "DMP_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
