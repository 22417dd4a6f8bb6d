"""Layer 2, storage: the raw lake (written by collection) loaded into the DuckDB warehouse."""

import dagster as dg

from orchestration.platform import Platform
from orchestration.storage.assets import build_kpi_targets_asset, build_storage_asset


def defs(platform: Platform) -> dg.Definitions:
    """One warehouse-loader asset per source contract, with its suite and platform checks, and the KPI targets."""
    targets_file = str(platform.settings.kpi_targets) if platform.settings.kpi_targets else None
    return dg.Definitions(
        assets=[
            build_storage_asset(
                c,
                platform.partitions,
                platform.suites.get(f"raw/{c.source}"),
                platform.alerting,
                platform.settings.as_of,
            )
            for c in platform.contracts.values()
        ]
        + [build_kpi_targets_asset(platform.kpi_targets, targets_file)]
    )
