"""Quality gates: Great Expectations suites, platform check rules and the alerting configuration."""

from core.quality.config import LEVELS, AlertingConfig, QualityConfigError, load_alerting_config
from core.quality.drift import export_columns, files_drift
from core.quality.rules import (
    CheckOutcome,
    freshness,
    quarantine_rate,
    schema_drift,
    volume_anomaly,
    worst,
    worst_day_volume,
)
from core.quality.suites import (
    ExpectationOutcome,
    Suite,
    SuiteOutcome,
    load_suite,
    load_suites,
    suite_params,
    suite_references,
    used_levels,
    validate,
)

__all__ = [
    "LEVELS",
    "AlertingConfig",
    "CheckOutcome",
    "ExpectationOutcome",
    "QualityConfigError",
    "Suite",
    "SuiteOutcome",
    "export_columns",
    "files_drift",
    "freshness",
    "load_alerting_config",
    "load_suite",
    "load_suites",
    "quarantine_rate",
    "schema_drift",
    "suite_params",
    "suite_references",
    "used_levels",
    "validate",
    "volume_anomaly",
    "worst",
    "worst_day_volume",
]
