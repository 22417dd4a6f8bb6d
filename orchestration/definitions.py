"""The platform's Dagster definitions, assembled from the layers when they are loaded.

Nothing runs at import time: `defs` is built on demand from the settings read at that moment.
The core (collection, storage, processing, quality, alerts) is built here; the service and
application layers each contribute a `build_defs(settings)` from their own module, merged in.
"""

from __future__ import annotations

import importlib

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
# Modules that contribute `build_defs(settings) -> dg.Definitions`, in dependency order.
LAYER_MODULES = [
    "orchestration.application.models",
    "orchestration.application.experiments",
    "orchestration.service.snapshot",
    "orchestration.application.dashboard",
]
# Assets with this tag are retrained on their own (weekly) schedule, not by the daily job.
CADENCE_TAG = "dmp/cadence"


def layer_definitions(settings: Settings) -> list[dg.Definitions]:
    """The service and application layers' contributions (a module that is absent contributes nothing)."""
    found = []
    for name in LAYER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.build_defs(settings))
    return found


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
    layers = layer_definitions(settings)
    platform_job = dg.define_asset_job(
        PLATFORM_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.tag(CADENCE_TAG, "weekly"),
        partitions_def=partitions,
        description="Every layer for a day (or a range of days, as one run); models are retrained weekly.",
    )
    core = dg.Definitions(
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
    return dg.Definitions.merge(core, *layers)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
