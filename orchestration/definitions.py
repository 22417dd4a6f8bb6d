"""The platform's Dagster definitions, assembled from the layers when they are loaded.

Nothing runs at import time: `defs` is built on demand from the settings read at that moment.
"""

from __future__ import annotations

import dagster as dg

from lakehouse.contracts import load_contracts
from orchestration.collection import build_collection_assets
from orchestration.partitions import daily_partitions
from orchestration.processing import build_dbt_assets, dbt_resource
from orchestration.resources import LakeResource, WarehouseResource
from orchestration.settings import Settings, get_settings
from orchestration.storage import build_storage_assets

PLATFORM_JOB = "platform_daily"


def build_definitions(settings: Settings) -> dg.Definitions:
    contracts = load_contracts(settings.contracts_dir, settings.mappings_dir)
    partitions = daily_partitions(settings)
    assets = [
        *build_collection_assets(contracts, partitions),
        *build_storage_assets(contracts, partitions),
        *build_dbt_assets(partitions),
    ]
    platform_job = dg.define_asset_job(
        PLATFORM_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        description="Every layer for a day (or a range of days, as one run).",
    )
    return dg.Definitions(
        assets=assets,
        jobs=[platform_job],
        resources={
            "lake": LakeResource(
                landing_dir=str(settings.landing_dir),
                lake_dir=str(settings.lake_dir),
                contracts_dir=str(settings.contracts_dir),
                mappings_dir=str(settings.mappings_dir) if settings.mappings_dir else None,
            ),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
            "dbt": dbt_resource(),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
