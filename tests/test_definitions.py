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


def test_dbt_assets_name_their_warehouse_table_owner_and_code_version(tmp_path):
    """The UI shows where each dbt model lives (the warehouse, not the scratch file dbt parsed
    against), its owner from dbt's meta, and a code version of its own (dagster-dbt's, from the SQL)."""
    import json

    from orchestration.processing.project import dbt_project

    manifest = json.loads(dbt_project().manifest_path.read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert models["kpi_daily"]["config"]["meta"]["dagster"]["owners"] == ["team:analytics-engineering"]
    graph = build_definitions(Settings(data_dir=tmp_path)).resolve_asset_graph()
    dbt_keys = [k for k in graph.get_all_asset_keys() if k.path[-1] in models]
    assert len(dbt_keys) == len([m for m in models.values() if m["config"]["materialized"] != "ephemeral"])
    versions: dict = {}
    for key in dbt_keys:
        node, model = graph.get(key), models[key.path[-1]]
        assert node.metadata["dagster/table_name"] == f"warehouse.{model['schema']}.{model['alias']}", key
        assert node.owners == ["team:analytics-engineering"], key
        versions.setdefault(node.code_version, []).append(key)
    assert None not in versions and len(versions) == len(dbt_keys), "each model its own code version"
