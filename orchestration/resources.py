"""Resources shared by the layers: where the landing zone, lake and warehouse are."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from lakehouse.contracts import Contract, load_contracts
from lakehouse.warehouse import connect


class LakeResource(dg.ConfigurableResource):
    """The landing zone (source exports), the raw lake and quarantine, and the source contracts."""

    landing_dir: str
    lake_dir: str
    contracts_dir: str
    mappings_dir: str | None = None

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def lake(self) -> Path:
        return Path(self.lake_dir)

    def contracts(self) -> dict[str, Contract]:
        return load_contracts(Path(self.contracts_dir), Path(self.mappings_dir) if self.mappings_dir else None)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Writers must run in the `warehouse` pool (one writer at a time)."""

    path: str

    @property
    def file(self) -> Path:
        return Path(self.path)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(self.file, read_only=read_only)
