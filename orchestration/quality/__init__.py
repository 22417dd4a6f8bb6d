"""Quality gates that are not part of an asset: the checks on the marts BI tools read.

The checks of the collection and storage assets live beside them (`check_specs`); the helpers
that turn the domain's check outcomes into Dagster check results are in `checks.py`.
"""

import dagster as dg

from orchestration.platform import Platform
from orchestration.quality.marts import build_mart_check


def defs(platform: Platform) -> dg.Definitions:
    """A multi-check per mart that has a suite (`expectations/suites/marts_*.json`)."""
    return dg.Definitions(
        asset_checks=[
            build_mart_check(dg.AssetKey(asset.split("/")), suite, platform.alerting)
            for asset, suite in platform.suites.items()
            if asset.startswith("marts/")
        ]
    )
