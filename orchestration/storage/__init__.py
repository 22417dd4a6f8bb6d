"""Layer 2, storage: the raw lake (written by collection) loaded into the DuckDB warehouse."""

import dagster as dg

from orchestration.platform import Platform
from orchestration.storage.assets import build_storage_asset


def defs(platform: Platform) -> dg.Definitions:
    """One warehouse-loader asset per source contract, with its suite and platform checks."""
    return dg.Definitions(
        assets=[
            build_storage_asset(c, platform.partitions, platform.suites.get(f"raw/{c.source}"), platform.alerting)
            for c in platform.contracts.values()
        ]
    )
