"""The dbt project and its manifest, prepared on first use (not at import time)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from core.settings import PROJECT_ROOT, Settings

DBT_DIR = PROJECT_ROOT / "dbt_project"


def _newest_source(project_dir: Path) -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "tests"):
        for path in (project_dir / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def ensure_manifest(project_dir: Path = DBT_DIR) -> Path:
    """Run `dbt parse` when the manifest is missing or older than any project file."""
    manifest = project_dir / "target" / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source(project_dir):
        return manifest
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    env.setdefault("DMP_DBT_DUCKDB_PATH", str(project_dir / "target" / "parse.duckdb"))
    proc = subprocess.run(
        [dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {project_dir}:\n{proc.stdout}\n{proc.stderr}")
    return manifest


@functools.cache
def dbt_project() -> DbtProject:
    ensure_manifest(DBT_DIR)
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


class PlatformDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the dbt adapter it opens in the Dagster process.

    Before every invocation dagster-dbt loads the dbt profile and project again and registers an
    adapter in the orchestrating process (benchmarks/dbt_invocation_benchmark.py measures it), which
    only its optional `fetch_column_metadata` / `fetch_row_counts` use. The platform reads row counts and schemas
    from the warehouse itself after dbt has released it (processing/assets.py), so no adapter is
    made: the invocation then carries none, as dagster-dbt allows for engines without one.
    """

    def _initialize_dbt_core_adapter(self, args):  # dagster-dbt's hook; no adapter wanted
        return None


def dbt_resource(settings: Settings | None = None) -> DbtCliResource:
    """dbt for the engine of the settings: the project's own dbt-duckdb, or on DMP_ENGINE=spark the
    dbt-spark of the Spark environment (.venv-spark: pyspark is too large a dependency for every
    install, and Great Expectations changes what it imports once pyspark is present)."""
    if settings is not None and settings.engine == "spark":
        executable = settings.spark_venv / "bin" / "dbt"
        return PlatformDbtCliResource(
            project_dir=os.fspath(DBT_DIR),
            profiles_dir=os.fspath(DBT_DIR),
            dbt_executable=os.fspath(executable),
            target="spark",
        )
    return PlatformDbtCliResource(
        project_dir=os.fspath(DBT_DIR), profiles_dir=os.fspath(DBT_DIR), dbt_executable=dbt_executable()
    )
