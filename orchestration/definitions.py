"""The platform's Dagster definitions: every layer's `defs(platform)` merged, plus the resources.

Nothing runs at import time: `defs` is built on demand from the settings read at that moment, and
the contracts, suites and alerting configuration are read once per load (`Platform.load`).
"""

from __future__ import annotations

import dagster as dg

from core.settings import Settings, get_settings
from orchestration import application, automation, collection, processing, quality, service, storage
from orchestration.executor import platform_executor
from orchestration.names import PLATFORM_JOB
from orchestration.platform import Platform
from orchestration.resources import build_resources

LAYERS = (collection, storage, processing, quality, service, application, automation)

__all__ = ["PLATFORM_JOB", "build_definitions", "defs"]


def build_definitions(settings: Settings) -> dg.Definitions:
    platform = Platform.load(settings)
    return dg.Definitions.merge(
        *(layer.defs(platform) for layer in LAYERS),
        dg.Definitions(resources=build_resources(settings), executor=platform_executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
