"""One typed settings object for the whole platform, read from the environment (and `.env`).

Nothing here runs at import time: call :func:`get_settings` when definitions are built or a
command starts, so tests can point the platform at a temporary directory by setting variables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Where data lives, which days exist, and how the simulated business behaves."""

    model_config = SettingsConfigDict(env_prefix="DMP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(PROJECT_ROOT / "data", description="Root of landing zone, lake and warehouse.")
    landing_dir: Path | None = Field(None, description="Landing zone; default <data_dir>/landing.")
    lake_dir: Path | None = Field(None, description="Raw lake and quarantine; default <data_dir>/lake.")
    warehouse_path: Path | None = Field(
        None, description="DuckDB warehouse file; default <data_dir>/warehouse/warehouse.duckdb."
    )
    contracts_dir: Path = Field(PROJECT_ROOT / "expectations" / "contracts", description="Source contracts.")
    mappings_dir: Path | None = Field(
        None, description="Directory of user mapping files (<source>.yaml) overriding contract mappings."
    )
    partitions_start: dt.date = Field(dt.date(2025, 10, 1), description="First daily partition.")
    partitions_end: dt.date | None = Field(
        None,
        description="Last daily partition (inclusive), and the data's clock: freshness is judged against the "
        "day after it. Default: DMP_DEMO_END for the simulated landing zone (<data_dir>/landing); for your own "
        "exports (DMP_LANDING_DIR) none, so there is a partition per day up to yesterday (UTC), growing daily.",
    )
    # Half a year: the retention model's 60-day horizon needs about five months of history.
    demo_start: dt.date = Field(dt.date(2025, 10, 1), description="First day of the demo range.")
    demo_end: dt.date = Field(dt.date(2026, 3, 31), description="Last day (inclusive) of the demo range.")
    sim_scale: float = Field(
        0.5, gt=0, description="Size of the simulated business (0.5 ~ 4k customers in the half-year demo)."
    )
    sim_seed: int = Field(3, description="Seed of the simulated business.")
    sim_defects: bool = Field(True, description="Inject dirty data into the simulated exports.")
    schedule_hour: int = Field(2, ge=0, le=23, description="Hour of the daily run (in schedule_timezone).")
    schedule_minute: int = Field(0, ge=0, le=59, description="Minute of the daily run.")
    schedule_timezone: str = Field("UTC", description="Timezone of the daily schedule (IANA name).")
    retrain_cron: str = Field(
        "0 4 * * 1",
        description="When the weekly model retraining runs (cron, in schedule_timezone); default Mondays 04:00.",
    )
    alerts_path: Path | None = Field(None, description="SQLite file of alerts; default <data_dir>/ops/alerts.sqlite.")
    alert_webhook_url: str | None = Field(None, description="URL that receives every new alert as JSON (POST).")
    kpi_targets: Path | None = Field(
        None,
        description="CSV of the business's monthly KPI targets (kpi,target,direction,unit,description); default: "
        "the demo's targets (expectations/kpi_targets.csv) for the simulated landing zone, none for your own "
        "(no met/missed verdicts rather than someone else's targets).",
    )
    charts_url: str = Field(
        "http://127.0.0.1:8000/charts",
        description="Where browsers fetch the model charts that the model assets show in the Dagster UI: the data "
        "API's /charts route (make serve) as the UI's users reach it.",
    )
    currency: str = Field(
        "",
        max_length=8,
        description="How the dashboard writes money: a symbol put before amounts ($, ¥, €) or a code put after "
        "them (USD, CNY); default none (plain numbers).",
    )
    alerting_config: Path = Field(PROJECT_ROOT / "expectations" / "alerting.yaml", description="Levels and thresholds.")
    suites_dir: Path = Field(PROJECT_ROOT / "expectations" / "suites", description="Great Expectations suites.")
    serving_dir: Path | None = Field(
        None,
        description="Serving snapshot for BI and the API (serving.duckdb, parquet/, dashboard/); "
        "default <data_dir>/serving.",
    )
    model_dir: Path | None = Field(
        None, description="Model store (versioned models, never in git); default <data_dir>/models."
    )
    instance: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Dagster instance profile written into DAGSTER_HOME: sqlite (embedded, "
        "deploy/dagster.yaml) or postgres (server deployment, deploy/dagster-postgres.yaml).",
    )
    executor: Literal["in_process", "multiprocess", "celery"] = Field(
        "in_process",
        description="How runs that schedules, sensors and `make backfill` start execute their steps: "
        "in_process (one process, steps one after another, each step using every "
        "core itself), multiprocess (a process per step, started for each step) or celery (each step "
        "on one of the Celery worker processes `make workers` starts, through DMP_CELERY_BROKER).",
    )
    celery_broker: str = Field(
        "redis://127.0.0.1:6379/0", description="The Celery broker the executor and the workers share."
    )
    celery_backend: str = Field(
        "redis://127.0.0.1:6379/1", description="Where Celery workers return the steps' results."
    )
    celery_workers: int = Field(2, ge=1, description="Worker processes `make workers` starts.")
    postgres_url: str | None = Field(
        None,
        description="PostgreSQL URL of the Dagster instance when instance=postgres "
        "(postgresql+psycopg2://user:password@host:5432/db); dagster.yaml reads it from the "
        "environment, so it is never written to a file.",
    )

    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Where the dbt models run: duckdb (the embedded warehouse file) or spark (the Spark "
        "cluster's Thrift server, DMP_SPARK_HOST:DMP_SPARK_THRIFT_PORT, reading the raw lake as external tables).",
    )
    spark_dir: Path | None = Field(
        None, description="The Spark cluster's state: pids, logs, metastore, its warehouse; default <data_dir>/spark."
    )
    spark_venv: Path = Field(
        PROJECT_ROOT / ".venv-spark", description="The Spark environment (pyspark, dbt-spark): make spark-install."
    )
    spark_host: str = Field("127.0.0.1", description="Host of the Spark master and Thrift server.")
    spark_master_port: int = Field(7077, description="Port of the Spark master.")
    spark_master_webui_port: int = Field(8080, description="Port of the Spark master's web UI.")
    spark_thrift_port: int = Field(10000, description="Port of the Spark Thrift server that dbt connects to.")
    spark_workers: int = Field(2, ge=1, description="Worker processes `make spark-up` starts.")
    spark_worker_cores: int = Field(1, ge=1, description="Cores each worker offers.")
    spark_worker_memory: str = Field("2g", description="Memory each worker offers.")
    spark_executor_memory: str = Field("1g", description="Memory of each executor.")
    spark_driver_memory: str = Field("1g", description="Memory of the Thrift server's driver.")
    spark_shuffle_partitions: int = Field(
        8, ge=1, description="spark.sql.shuffle.partitions (Spark's default of 200 is for much larger data)."
    )

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        self.data_dir = self.data_dir.resolve()
        if self.landing_dir is None:
            self.landing_dir = self.data_dir / "landing"
        if self.lake_dir is None:
            self.lake_dir = self.data_dir / "lake"
        if self.warehouse_path is None:
            self.warehouse_path = self.data_dir / "warehouse" / "warehouse.duckdb"
        if self.alerts_path is None:
            self.alerts_path = self.data_dir / "ops" / "alerts.sqlite"
        self.alerts_path = self.alerts_path.resolve()
        self.serving_dir = (self.serving_dir or self.data_dir / "serving").resolve()
        self.spark_dir = (self.spark_dir or self.data_dir / "spark").resolve()
        self.spark_venv = self.spark_venv.resolve()
        self.model_dir = (self.model_dir or self.data_dir / "models").resolve()
        self.landing_dir = self.landing_dir.resolve()
        self.lake_dir = self.lake_dir.resolve()
        self.warehouse_path = self.warehouse_path.resolve()
        if self.kpi_targets is None and self.landing_dir == self.data_dir / "landing":
            self.kpi_targets = PROJECT_ROOT / "expectations" / "kpi_targets.csv"
        if self.kpi_targets is not None:
            self.kpi_targets = self.kpi_targets.resolve()
        if self.mappings_dir is not None:
            self.mappings_dir = self.mappings_dir.resolve()
        if self.demo_end < self.demo_start:
            raise ValueError(f"DMP_DEMO_END ({self.demo_end}) is before DMP_DEMO_START ({self.demo_start})")
        if self.demo_start < self.partitions_start:
            raise ValueError(
                f"DMP_DEMO_START ({self.demo_start}) is before DMP_PARTITIONS_START ({self.partitions_start}); "
                "the demo range must lie inside the partitioned range"
            )
        if self.partitions_end is None and self.landing_dir == self.data_dir / "landing":
            self.partitions_end = self.demo_end
        if self.partitions_end is not None and self.partitions_end < self.partitions_start:
            raise ValueError(
                f"DMP_PARTITIONS_END ({self.partitions_end}) is before DMP_PARTITIONS_START ({self.partitions_start})"
            )
        return self

    def as_of(self) -> dt.date:
        """Today by the data's clock: the day after the last partition when the range has an end
        (the simulated business lives in its own half year), else today (UTC)."""
        today = dt.datetime.now(dt.UTC).date()
        if self.partitions_end is None:
            return today
        return min(today, self.partitions_end + dt.timedelta(days=1))

    def run_config(self) -> dict:
        """Run config selecting :attr:`executor` for runs the platform starts on its own."""
        if self.executor == "celery":
            return {"execution": {"config": {"celery": self.celery_config()}}}
        return {"execution": {"config": {self.executor: {}}}}

    def celery_config(self) -> dict:
        """The Celery executor's config; the workers are started with the same broker and backend."""
        return {"broker": self.celery_broker, "backend": self.celery_backend}

    @property
    def ground_truth_dir(self) -> Path:
        return self.data_dir / "ground_truth"

    @property
    def serving_path(self) -> Path:
        """The serving snapshot BI tools and the API read (replaced atomically on every publish)."""
        from core.service.snapshot import SNAPSHOT_FILE

        return self.serving_dir / SNAPSHOT_FILE


def get_settings() -> Settings:
    """Read the settings now (environment and `.env`)."""
    return Settings()
