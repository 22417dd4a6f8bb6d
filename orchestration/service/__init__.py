"""Layer 4, service: the read-only serving snapshot for BI tools and the data API (`api/`)."""

import dagster as dg

from orchestration.platform import Platform
from orchestration.service.snapshot import build_snapshot_asset


def defs(platform: Platform) -> dg.Definitions:
    """The serving snapshot asset."""
    return dg.Definitions(assets=[build_snapshot_asset()])
