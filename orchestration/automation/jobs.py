"""The platform's jobs: every layer for a day (or a range), and the weekly model retraining."""

import dagster as dg

from orchestration.application import demand, retention
from orchestration.names import CADENCE_TAG, MODEL_JOB, PLATFORM_JOB, WEEKLY


def platform_job(partitions_def: dg.PartitionsDefinition):
    return dg.define_asset_job(
        PLATFORM_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.tag(CADENCE_TAG, WEEKLY[CADENCE_TAG]),
        partitions_def=partitions_def,
        description="Every layer for a day (or a range of days, as one run); models are retrained weekly.",
    )


def model_job():
    training = dg.AssetSelection.assets(retention.retention_features, demand.demand_panel) | dg.AssetSelection.tag(
        CADENCE_TAG, WEEKLY[CADENCE_TAG]
    )
    return dg.define_asset_job(
        MODEL_JOB,
        selection=training | training.downstream(),
        description="Retrain the retention and demand models (weekly), promote through the gate, re-score, "
        "and refresh everything that shows the scores.",
    )
