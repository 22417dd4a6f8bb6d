"""The platform's Dagster definitions, assembled from the layers when they are loaded.

Nothing runs at import time: `defs` is built on demand from the settings read at that moment.
"""

from __future__ import annotations

import dagster as dg

from lakehouse.contracts import load_contracts
from orchestration.collection import build_collection_assets
from orchestration.partitions import daily_partitions
from lakehouse.quality import load_alerting_config, load_suites
from orchestration.application.kpi_alerts import kpi_alerts_asset
from orchestration.automation import build_daily_schedule, build_landing_sensor
from orchestration.processing import build_dbt_assets, dbt_resource
from orchestration.quality.checks import QualityResource
from orchestration.quality.marts import build_mart_checks
from orchestration.quality.sensors import build_alert_sensors
from orchestration.resources import LakeResource, WarehouseResource
from orchestration.settings import Settings, get_settings
from orchestration.storage import build_storage_assets

PLATFORM_JOB = "platform_daily"


def build_definitions(settings: Settings) -> dg.Definitions:
    contracts = load_contracts(settings.contracts_dir, settings.mappings_dir)
    suites = load_suites(settings.suites_dir)
    alerting = load_alerting_config(settings.alerting_config)
    partitions = daily_partitions(settings)
    assets = [
        *build_collection_assets(contracts, partitions),
        *build_storage_assets(contracts, partitions, suites, alerting.volume_sources, alerting.freshness_sources),
        *build_dbt_assets(partitions),
        kpi_alerts_asset,
    ]
    platform_job = dg.define_asset_job(
        PLATFORM_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        description="Every layer for a day (or a range of days, as one run).",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=build_mart_checks(suites),
        sensors=[*build_alert_sensors(settings), build_landing_sensor(platform_job, settings, partitions)],
        schedules=[build_daily_schedule(platform_job, settings)],
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
            "quality": QualityResource(alerts_path=str(settings.alerts_path),
                                       alerting_config=str(settings.alerting_config),
                                       suites_dir=str(settings.suites_dir)),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
