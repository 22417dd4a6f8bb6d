"""Quality gates as Dagster asset checks, and the alerts they raise.

Check names are constants; a check's severity follows its level: red is ERROR and the check is
blocking (downstream assets of the run do not materialise), yellow and blue are WARN. Every
failed check writes a row to the alerts table.
"""

import dagster as dg

from core.quality import CheckOutcome, Suite, SuiteOutcome, used_levels
from orchestration.metadata import json_safe
from orchestration.resources import AlertsResource

QUARANTINE_RATE = "quarantine_rate"
SCHEMA_DRIFT = "schema_drift"
VOLUME_ANOMALY = "volume_anomaly"
FRESHNESS = "freshness"
EXPECTATIONS = {"red": "expectations_red", "yellow": "expectations_yellow", "blue": "expectations_blue"}
SEVERITY = {
    "red": dg.AssetCheckSeverity.ERROR,
    "yellow": dg.AssetCheckSeverity.WARN,
    "blue": dg.AssetCheckSeverity.WARN,
}


def expectation_specs(asset_key: dg.AssetKey, suite: Suite | None) -> list[dg.AssetCheckSpec]:
    """One check per level the suite uses (red ones blocking)."""
    if suite is None:
        return []
    return [
        dg.AssetCheckSpec(
            EXPECTATIONS[level],
            asset=asset_key,
            blocking=level == "red",
            description=f"Great Expectations suite {suite.name}: its {level} expectations.",
        )
        for level in used_levels(suite)
    ]


def _results_table(rows) -> str:
    return "\n".join(
        [
            "| expectation | column | passed | unexpected | unexpected % | observed | failing values |",
            "|---|---|---|---|---|---|---|",
        ]
        + [
            f"| {o.expectation} | {o.column or ''} | {'yes' if o.success else 'NO'}"
            f"{' (skipped: ' + o.skipped + ')' if o.skipped else ''} | "
            f"{o.unexpected_count if o.unexpected_count is not None else ''} | "
            f"{'' if o.unexpected_percent is None else round(o.unexpected_percent, 3)} | "
            f"{'' if o.observed_value is None else o.observed_value} | {', '.join(map(str, o.failing_values))} |"
            for o in rows
        ]
    )


def _failure_summary(failed) -> str:
    return "; ".join(
        f"{o.expectation}({o.column or ''}) unexpected {o.unexpected_count}"
        if o.unexpected_count is not None
        else f"{o.expectation}({o.column or ''}) observed {o.observed_value}"
        for o in failed
    )


def expectation_results(
    asset_key: dg.AssetKey,
    suite: Suite,
    outcome: SuiteOutcome,
    alerts: AlertsResource,
    run_id: str,
    partition: str | None,
) -> list[dg.AssetCheckResult]:
    results = []
    for level in used_levels(suite):
        rows = outcome.of_level(level)
        failed = [o for o in rows if not o.success]
        if failed:
            alerts.raise_alert(
                level,
                f"{suite.name}: {len(failed)} {level} expectation(s) failed: {_failure_summary(failed)}",
                asset=asset_key.to_user_string(),
                check_name=EXPECTATIONS[level],
                partition=partition,
                run_id=run_id,
            )
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=EXPECTATIONS[level],
                passed=not failed,
                severity=SEVERITY[level],
                description=f"{len(failed)} of {len(rows)} {level} expectation(s) failed"
                if failed
                else f"all {len(rows)} {level} expectation(s) passed",
                metadata={
                    "results": dg.MetadataValue.md(_results_table(rows)),
                    "rows_validated": outcome.rows_validated,
                    "rows_total": outcome.rows_total,
                    "failed": len(failed),
                    "suite": suite.name,
                    "level": level,
                    **({"partition": partition} if partition else {}),
                },
            )
        )
    return results


def platform_result(
    asset_key: dg.AssetKey,
    check_name: str,
    outcome: CheckOutcome,
    alerts: AlertsResource,
    run_id: str,
    partition: str | None,
) -> dg.AssetCheckResult:
    """A platform check's result; a failure raises an alert at its level."""
    if not outcome.passed:
        alerts.raise_alert(
            outcome.level or "yellow",
            outcome.message,
            asset=asset_key.to_user_string(),
            check_name=check_name,
            partition=partition,
            run_id=run_id,
        )
    severity = SEVERITY["red"] if outcome.level == "red" else SEVERITY["yellow"]
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.message,
        metadata={
            **json_safe(outcome.metrics),
            "level": outcome.level or "pass",
            **({"partition": partition} if partition else {}),
        },
    )
