"""The candidate -> champion hand-off, shared by the models: the champion asset promotes (or keeps)
what the candidate asset of the same run decided, read from that candidate's materialisation."""

import json

import dagster as dg

from ml.evaluation import Decision
from ml.promotion import gate_passes
from ml.store import ModelStore

FEATURE_CHECK = "feature_table_valid"
PROMOTION_GATE = "promotion_gate"
OWNERS = ["team:data-science"]
HANDOFF = "promotion"  # the candidate's metadata entry the champion asset reads


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["application", name])


def handoff(version: str, decision: dict, metrics: dict) -> dg.MetadataValue:
    """What the candidate asset records for its champion asset (JSON-safe numbers)."""
    body = {"version": version, "decision": decision, "metrics": metrics}
    return dg.MetadataValue.json(
        json.loads(json.dumps(body, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    )


def _candidate_of_this_run(context: dg.AssetExecutionContext, name: str) -> dict:
    """The hand-off of the candidate this run evaluated (its latest materialisation, from this run)."""
    event = context.instance.get_latest_materialization_event(key(f"{name}_candidate"))
    materialization = event.asset_materialization if event is not None else None
    if event is None or event.run_id != context.run.run_id or HANDOFF not in materialization.metadata:
        raise dg.Failure(
            f"no {name} candidate was evaluated in this run (run {context.run.run_id}); "
            f"materialise application/{name}_candidate with application/{name}_model",
            allow_retries=False,
        )
    return materialization.metadata[HANDOFF].value


def promote(context: dg.AssetExecutionContext, store: ModelStore, name: str) -> dg.MaterializeResult:
    """Promote the run's candidate if its decision says so, else record that the champion stays."""
    pending = _candidate_of_this_run(context, name)
    decision = pending["decision"]
    if decision["promote"]:
        store.promote(
            name,
            pending["version"],
            {"reason": decision["reason"], "run_id": context.run.run_id, "metrics": pending["metrics"]},
        )
        action = "promoted"
    else:
        store.record_decision(
            name,
            {
                "action": "kept",
                "candidate": pending["version"],
                "champion": store.champion_version(name),
                "reason": decision["reason"],
                "run_id": context.run.run_id,
            },
        )
        action = "kept"
    return dg.MaterializeResult(
        metadata={
            "champion_version": store.champion_version(name) or "none",
            "action": action,
            "candidate_version": pending["version"],
            "reason": decision["reason"],
        }
    )


def gate_result(
    decision: Decision,
    champion_version: str | None,
    candidate_version: str,
    severity: dg.AssetCheckSeverity,
    **facts,
) -> dg.AssetCheckResult:
    """The promotion gate's check result for the candidate's decision."""
    return dg.AssetCheckResult(
        check_name=PROMOTION_GATE,
        passed=gate_passes(decision, champion_version, candidate_version),
        severity=severity,
        description=decision.reason,
        metadata={"promote": decision.promote, **facts},
    )
