"""Layer 3, processing: the dbt project (staging -> intermediate -> marts) as Dagster assets."""

from orchestration.processing.assets import build_dbt_assets, dbt_resource

__all__ = ["build_dbt_assets", "dbt_resource"]
