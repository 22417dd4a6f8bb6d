"""Quality gates as Dagster asset checks, and the alerts they raise.

Check names are constants; a check's severity follows its level: red is ERROR and the check is
blocking (downstream assets of the run do not materialise), yellow and blue are WARN. Every
failed check writes a row to the alerts table.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from lakehouse.alerts import record_alert
from lakehouse.quality import (
    AlertingConfig,
    CheckOutcome,
    Suite,
    SuiteOutcome,
    load_alerting_config,
    load_suites,
    validate,
)

QUARANTINE_RATE = "quarantine_rate"
SCHEMA_DRIFT = "schema_drift"
VOLUME_ANOMALY = "volume_anomaly"
FRESHNESS = "freshness"
EXPECTATIONS = {"red": "expectations_red", "yellow": "expectations_yellow", "blue": "expectations_blue"}
SEVERITY = {"red": dg.AssetCheckSeverity.ERROR, "yellow": dg.AssetCheckSeverity.WARN,
            "blue": dg.AssetCheckSeverity.WARN}


class QualityResource(dg.ConfigurableResource):
    """Levels and thresholds, the Great Expectations suites, and the alerts table (SQLite)."""

    alerts_path: str
    alerting_config: str
    suites_dir: str

    def config(self) -> AlertingConfig:
        return load_alerting_config(Path(self.alerting_config))

    def suites(self) -> dict[str, Suite]:
        return load_suites(Path(self.suites_dir))

    def raise_alert(self, level: str, message: str, asset: str | None = None, check_name: str | None = None,
                    partition: str | None = None, run_id: str | None = None, dedupe: bool = False) -> int:
        return record_alert(Path(self.alerts_path), level, message, asset=asset, check_name=check_name,
                            partition=partition, run_id=run_id, dedupe=dedupe)


def partition_label(days: list[dt.date]) -> str | None:
    if not days:
        return None
    return days[0].isoformat() if len(days) == 1 else f"{days[0]}...{days[-1]}"


def expectation_specs(asset_key: dg.AssetKey, suite: Suite | None) -> list[dg.AssetCheckSpec]:
    """One check per level the suite uses (red ones blocking)."""
    if suite is None:
        return []
    used = {(e.get("meta") or {}).get("level", suite.level) for e in suite.expectations}
    return [dg.AssetCheckSpec(EXPECTATIONS[level], asset=asset_key, blocking=level == "red",
                              description=f"Great Expectations suite {suite.name}: its {level} expectations.")
            for level in ("red", "yellow", "blue") if level in used]


def expectation_results(asset_key: dg.AssetKey, suite: Suite, outcome: SuiteOutcome, alerts: QualityResource,
                        run_id: str, partition: str | None) -> list[dg.AssetCheckResult]:
    results = []
    used = {(e.get("meta") or {}).get("level", suite.level) for e in suite.expectations}
    for level in ("red", "yellow", "blue"):
        if level not in used:
            continue
        rows = outcome.of_level(level)
        failed = [o for o in rows if not o.success]
        table = "\n".join(
            ["| expectation | column | passed | unexpected | unexpected % | observed | failing values |",
             "|---|---|---|---|---|---|---|"]
            + [f"| {o.expectation} | {o.column or ''} | {'yes' if o.success else 'NO'}"
               f"{' (skipped: ' + o.skipped + ')' if o.skipped else ''} | {o.unexpected_count if o.unexpected_count is not None else ''} | "
               f"{'' if o.unexpected_percent is None else round(o.unexpected_percent, 3)} | "
               f"{'' if o.observed_value is None else o.observed_value} | {', '.join(map(str, o.failing_values))} |"
               for o in rows])
        if failed:
            summary = "; ".join(f"{o.expectation}({o.column or ''}) unexpected {o.unexpected_count}"
                                if o.unexpected_count is not None else f"{o.expectation}({o.column or ''}) observed "
                                f"{o.observed_value}" for o in failed)
            alerts.raise_alert(level, f"{suite.name}: {len(failed)} {level} expectation(s) failed: {summary}",
                               asset=asset_key.to_user_string(), check_name=EXPECTATIONS[level], partition=partition,
                               run_id=run_id)
        results.append(dg.AssetCheckResult(
            asset_key=asset_key, check_name=EXPECTATIONS[level], passed=not failed, severity=SEVERITY[level],
            description=f"{len(failed)} of {len(rows)} {level} expectation(s) failed" if failed
            else f"all {len(rows)} {level} expectation(s) passed",
            metadata={"results": dg.MetadataValue.md(table), "rows_validated": outcome.rows_validated,
                      "rows_total": outcome.rows_total, "failed": len(failed), "suite": suite.name,
                      "level": level},
        ))
    return results


def platform_result(asset_key: dg.AssetKey, check_name: str, outcome: CheckOutcome, alerts: QualityResource,
                    run_id: str, partition: str | None, red_blocks: bool = True) -> dg.AssetCheckResult:
    """A platform check's result; a failure raises an alert at its level."""
    if not outcome.passed:
        alerts.raise_alert(outcome.level or "yellow", outcome.message, asset=asset_key.to_user_string(),
                           check_name=check_name, partition=partition, run_id=run_id)
    severity = SEVERITY["red"] if (outcome.level == "red" and red_blocks) else SEVERITY["yellow"]
    metadata = {k: (dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v)
                for k, v in outcome.metrics.items() if v is not None}
    return dg.AssetCheckResult(asset_key=asset_key, check_name=check_name, passed=outcome.passed, severity=severity,
                               description=outcome.message, metadata={**metadata, "level": outcome.level or "pass"})


def run_suite(suite: Suite, df: pd.DataFrame, days: list[dt.date], lateness_days: int, lookup=None) -> SuiteOutcome:
    params = {}
    if days:
        params = {"earliest_allowed": pd.Timestamp(days[0] - dt.timedelta(days=lateness_days)),
                  "window_end": pd.Timestamp(days[-1] + dt.timedelta(days=1))}
    return validate(suite, df, params=params, lookup=lookup)
