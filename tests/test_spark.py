"""The Spark engine, on a real standalone cluster started by the project's own code: its lifecycle,
a clear error without Java, the same marts as DuckDB from the same month, and daily runs that
replace only their window's partitions.

The cluster runs on ports of its own (free ones picked here), so a developer's `make spark-up`
cluster is not touched."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from core.settings import PROJECT_ROOT, Settings
from core.spark import cluster
from core.storage.sql import q
from simulator import SimulationConfig, simulate
from tests.test_processing import DEFECTS, MARTS, _run

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 31)
LOOKBACK_DAYS = 3  # dbt_project.yml's lookback_days: a daily run replaces [day - 3, day]
FLOAT_RTOL = 1e-12  # rates and averages (DOUBLE): the engines may add in another order


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python_without_java(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has this interpreter but no `java`, and no JAVA_HOME."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin" if shutil.which("java", path="/usr/bin:/bin") is None else str(bin_dir)
    env["DMP_SPARK_DIR"] = str(tmp_path / "spark")
    return env


def test_up_without_java_says_what_to_install(tmp_path):
    env = _python_without_java(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "core.spark", "up"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Java 17" in proc.stderr and "openjdk-17-jre-headless" in proc.stderr and "JAVA_HOME" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "spark" / "cluster.json").exists()  # nothing was started


def test_java_home_without_java_is_named(tmp_path):
    env = _python_without_java(tmp_path) | {"JAVA_HOME": str(tmp_path / "no-jdk")}
    proc = subprocess.run(
        [sys.executable, "-m", "core.spark", "status"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert f"JAVA_HOME={tmp_path / 'no-jdk'} has no bin/java" in proc.stderr


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """A cluster of one master, two workers and the Thrift server, as `make spark-up` starts it."""
    root = tmp_path_factory.mktemp("spark")
    settings = Settings(
        data_dir=root / "data",
        spark_dir=root / "spark",
        spark_master_port=_free_port(),
        spark_master_webui_port=_free_port(),
        spark_thrift_port=_free_port(),
        spark_workers=2,
    )
    cfg = cluster.config(settings)
    try:
        cluster.up(cfg)
        yield settings, cfg
    finally:
        cluster.down(cfg)


@pytest.mark.slow
def test_cluster_lifecycle(spark):
    settings, cfg = spark
    state = cluster.read_state(cfg)
    assert set(state) == {"master", "worker-1", "worker-2", "thrift"}
    status = cluster.status(cfg)
    assert status["alive_workers"] == 2 and status["thrift_listening"]
    assert all(p["alive"] for p in status["processes"].values())
    # The Thrift server is a Spark application of the cluster, with executors on the workers.
    assert cluster.up(cfg) == state  # up on a running cluster starts nothing
    from core.spark.lake import connect

    with connect(cfg.host, cfg.thrift_port) as cursor:
        cursor.execute("select sum(id) from range(1000000)")
        assert cursor.fetchall() == [(499999500000,)]


def _partition_files(spark_dir: Path) -> dict[str, tuple]:
    """Every partition directory of Spark's warehouse -> its data files (names and sizes)."""
    out = {}
    for part in (spark_dir / "warehouse").glob("*.db/*/*=*"):
        files = sorted((p.name, p.stat().st_size) for p in part.glob("*.parquet"))
        out[str(part.relative_to(spark_dir / "warehouse"))] = tuple(files)
    return out


def _columns(warehouse: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()


def _rows(warehouse: Path, table: str, columns: list[str]) -> list[tuple]:
    """A mart's rows (the columns in the given order) in a canonical order; DECIMAL stays Decimal."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"select {', '.join(q(c) for c in columns)} from marts.{table}").fetchall()

    def key(row):  # exact columns compared as text; floats rounded, so a last-bit difference keeps the order
        return tuple((0, "") if v is None else (1, f"{v:.6e}") if isinstance(v, float) else (1, str(v)) for v in row)

    return sorted(rows, key=key)


def _assert_same_marts(got: Path, want: Path) -> None:
    """Every mart: the same columns and types, the same rows; decimals exact, doubles within FLOAT_RTOL."""
    for table in MARTS:
        want_cols = _columns(want, table)
        assert sorted(_columns(got, table)) == sorted(want_cols), table
        names = [c for c, _ in want_cols]
        got_rows, want_rows = _rows(got, table, names), _rows(want, table, names)
        assert len(got_rows) == len(want_rows), f"{table}: {len(got_rows)} rows against {len(want_rows)}"
        for g, w in zip(got_rows, want_rows, strict=True):
            for column, a, b in zip(names, g, w, strict=True):
                if isinstance(b, float) and isinstance(a, float):
                    assert math.isclose(a, b, rel_tol=FLOAT_RTOL, abs_tol=1e-12), (table, column, g, w)
                else:
                    assert a == b, (table, column, g, w)
                    if isinstance(b, Decimal):  # the same scale too: 12.50 is not 12.5
                        assert a.as_tuple() == b.as_tuple(), (table, column, a, b)


@pytest.mark.slow
def test_spark_builds_the_marts_duckdb_builds_and_daily_runs_replace_only_their_window(spark, tmp_path):
    settings, cfg = spark
    simulate(
        SimulationConfig(start=START, end=END, seed=31, scale=0.3, defects=DEFECTS),
        tmp_path / "landing",
        tmp_path / "truth",
    )
    common = {"landing_dir": tmp_path / "landing", "partitions_start": START, "demo_start": START, "demo_end": END}
    duck = Settings(data_dir=tmp_path / "duckdb", **common)
    on_spark = Settings(
        data_dir=tmp_path / "spark-data",
        engine="spark",
        spark_dir=cfg.spark_dir,
        spark_thrift_port=cfg.thrift_port,
        **common,
    )
    before_last = END - dt.timedelta(days=1)
    with dg.DagsterInstance.ephemeral() as instance:
        # The first build of the month but its last day, on both engines.
        _run(duck, instance, START, before_last)
        _run(on_spark, instance, START, before_last)
        _assert_same_marts(on_spark.warehouse_path, duck.warehouse_path)

        # One more day: on Spark only the partitions of its window are written again.
        files_before = _partition_files(cfg.spark_dir)
        _run(duck, instance, END, END)
        _run(on_spark, instance, END, END)
        files_after = _partition_files(cfg.spark_dir)
    # The storage step declared the new day on Spark: its raw rows read there as in the warehouse.
    from core.spark.lake import connect

    with connect(cfg.host, cfg.thrift_port) as cursor:
        cursor.execute(f"select count(*) from raw.orders where dt = date '{END.isoformat()}'")
        on_spark_rows = cursor.fetchall()[0][0]
    with duckdb.connect(str(on_spark.warehouse_path), read_only=True) as con:
        loaded = con.execute("select count(*) from raw.orders where dt = ?", [END]).fetchone()[0]
    assert on_spark_rows == loaded > 0

    window = {(END - dt.timedelta(days=i)).isoformat() for i in range(LOOKBACK_DAYS + 1)}
    changed = {p for p in files_after if files_after[p] != files_before.get(p)}
    assert changed, "the daily run wrote no partition"
    assert {p.rsplit("=", 1)[1] for p in changed} <= window, sorted(changed)
    assert any(p.endswith(f"={END.isoformat()}") for p in changed)
    untouched = {p for p in files_before if p.rsplit("=", 1)[1] not in window}
    assert all(files_after[p] == files_before[p] for p in untouched)

    # ... and the result equals a full build of the whole month on DuckDB.
    full = Settings(data_dir=tmp_path / "full", **common)
    with dg.DagsterInstance.ephemeral() as instance:
        _run(full, instance, START, END)
    _assert_same_marts(on_spark.warehouse_path, full.warehouse_path)
    _assert_same_marts(duck.warehouse_path, full.warehouse_path)
