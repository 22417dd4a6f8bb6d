"""Resources: the only way paths and configuration reach a run, sensor or schedule."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from core.alerts.store import list_alerts, record_alert
from core.service.snapshot import CHART_NAME, CHARTS_DIR, SNAPSHOT_FILE
from core.settings import Settings
from core.storage.warehouse import connect
from ml.store import ModelStore, write_atomic


class LakeResource(dg.ConfigurableResource):
    """The landing zone (source exports), and the raw lake and quarantine."""

    landing_dir: str
    lake_dir: str

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def lake(self) -> Path:
        return Path(self.lake_dir)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Writers must run in the `warehouse` pool (one writer at a time)."""

    path: str

    @property
    def file(self) -> Path:
        return Path(self.path)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(self.file, read_only=read_only)


class SparkResource(dg.ConfigurableResource):
    """The engine the models run on. `duckdb`: the warehouse file, nothing more to reach. `spark`:
    the Spark Thrift server (`make spark-up`), where the storage layer declares the lake and dbt
    builds the models; the built tables are copied back into the warehouse file (core/spark/mirror.py)."""

    engine: str = "duckdb"
    host: str = "127.0.0.1"
    thrift_port: int = 10000

    @property
    def enabled(self) -> bool:
        return self.engine == "spark"

    @contextlib.contextmanager
    def cursor(self) -> Iterator:
        from thrift.transport.TTransport import TTransportException

        from core.spark.lake import connect

        try:
            with connect(self.host, self.thrift_port) as cursor:
                yield cursor
        except TTransportException as exc:
            raise dg.Failure(
                description=f"DMP_ENGINE=spark, but the Spark Thrift server at {self.host}:{self.thrift_port} "
                f"does not answer ({exc}). Start the cluster with `make spark-up` (it also says what is "
                "missing, e.g. Java), or point DMP_SPARK_HOST / DMP_SPARK_THRIFT_PORT at yours; nothing "
                "was written on Spark.",
                allow_retries=False,
            ) from exc


class AlertsResource(dg.ConfigurableResource):
    """The alerts table (SQLite) and where new alerts are delivered."""

    path: str
    webhook_url: str | None = None

    @property
    def file(self) -> Path:
        return Path(self.path)

    def raise_alert(
        self,
        level: str,
        message: str,
        asset: str | None = None,
        check_name: str | None = None,
        partition: str | None = None,
        run_id: str | None = None,
        dedupe: bool = False,
    ) -> int:
        return record_alert(
            self.file,
            level,
            message,
            asset=asset,
            check_name=check_name,
            partition=partition,
            run_id=run_id,
            dedupe=dedupe,
        )

    def pending(self, after_id: int, limit: int = 100) -> list:
        return list_alerts(self.file, after_id=after_id, limit=limit)


class ServingResource(dg.ConfigurableResource):
    """The serving directory: the snapshot BI tools and the API read, and the dashboard beside it."""

    serving_dir: str

    @property
    def directory(self) -> Path:
        return Path(self.serving_dir)

    @property
    def snapshot(self) -> Path:
        return self.directory / SNAPSHOT_FILE

    charts_url: str = ""

    @property
    def dashboard_dir(self) -> Path:
        return self.directory / "dashboard"

    def publish_chart(self, model: str, version: str, name: str, png: bytes) -> tuple[Path, str]:
        """Write a model's chart to <serving_dir>/charts/<model>/<version>/<name>.png, where the data API
        serves it (GET /charts/...), and return the file and its URL under `charts_url`. The Dagster UI
        shows markdown images only from http(s) addresses, so a chart on an asset page needs a server."""
        for part in (model, version, name):
            if not re.fullmatch(CHART_NAME, part):
                raise ValueError(f"a chart path part must be a plain name, got {part!r}")
        path = self.directory / CHARTS_DIR / model / version / f"{name}.png"
        write_atomic(path, png)
        return path, f"{self.charts_url.rstrip('/')}/{model}/{version}/{name}.png"


class ModelStoreResource(dg.ConfigurableResource):
    """The versioned model store (outside git)."""

    root: str

    def store(self) -> ModelStore:
        return ModelStore(Path(self.root))


def build_resources(settings: Settings) -> dict[str, object]:
    """Every resource of the platform, from the settings."""
    from orchestration.processing.project import dbt_resource

    return {
        "lake": LakeResource(landing_dir=str(settings.landing_dir), lake_dir=str(settings.lake_dir)),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "alerts": AlertsResource(path=str(settings.alerts_path), webhook_url=settings.alert_webhook_url),
        "serving": ServingResource(serving_dir=str(settings.serving_dir), charts_url=settings.charts_url),
        "models": ModelStoreResource(root=str(settings.model_dir)),
        "spark": SparkResource(
            engine=settings.engine, host=settings.spark_host, thrift_port=settings.spark_thrift_port
        ),
        "dbt": dbt_resource(settings),
    }
