"""What one definitions load reads: the settings, the contracts, the suites, the alerting configuration.

Read once when the definitions are built and passed to every layer's `defs(platform)`, so no step
reads a contract, suite or threshold file again.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from core.collection.contracts import Contract, load_contracts
from core.quality import AlertingConfig, Suite, load_alerting_config, load_suites
from core.settings import Settings
from core.storage.targets import load_kpi_targets
from orchestration.partitions import daily_partitions


@dataclass(frozen=True)
class Platform:
    settings: Settings
    contracts: dict[str, Contract]
    suites: dict[str, Suite]
    alerting: AlertingConfig
    partitions: dg.DailyPartitionsDefinition
    kpi_targets: list[dict]

    @classmethod
    def load(cls, settings: Settings) -> Platform:
        return cls(
            settings=settings,
            contracts=load_contracts(settings.contracts_dir, settings.mappings_dir),
            suites=load_suites(settings.suites_dir),
            alerting=load_alerting_config(settings.alerting_config),
            partitions=daily_partitions(settings),
            kpi_targets=load_kpi_targets(settings.kpi_targets),
        )
