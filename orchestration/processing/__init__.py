"""Layer 3, processing: the dbt project (staging -> intermediate -> marts) as Dagster assets."""

import dagster as dg

from orchestration.platform import Platform
from orchestration.processing.assets import build_dbt_assets


def defs(platform: Platform) -> dg.Definitions:
    """The dbt models, seeds and tests, split by how they are materialised."""
    return dg.Definitions(assets=build_dbt_assets(platform.partitions))
