"""Layer 1, collection: source exports in the landing zone -> validated rows in the raw lake."""

import dagster as dg

from orchestration.collection.assets import build_collection_asset
from orchestration.platform import Platform


def defs(platform: Platform) -> dg.Definitions:
    """One collection asset per source contract."""
    return dg.Definitions(
        assets=[
            build_collection_asset(c, platform.partitions, platform.alerting, platform.settings.lake_dir)
            for c in platform.contracts.values()
        ]
    )
