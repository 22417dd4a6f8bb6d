"""Helpers that turn the domain's figures into Dagster metadata: schemas, tables, partition labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import dagster as dg

from core.collection.contracts import Contract


def contract_schema(contract: Contract, extra: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The contract's columns (with nullability and the key's uniqueness), plus `extra` name -> type."""
    columns = [
        dg.TableColumn(
            c.name,
            c.sql_type.lower(),
            description=c.description,
            constraints=dg.TableColumnConstraints(nullable=not c.required, unique=contract.key == (c.name,)),
        )
        for c in contract.columns
    ]
    return dg.TableSchema(columns=[*columns, *column_schema((extra or {}).items()).columns])


def column_schema(columns: Iterable[tuple[str, str]]) -> dg.TableSchema:
    """A schema from (name, SQL type) pairs."""
    return dg.TableSchema(columns=[dg.TableColumn(name, dtype.lower()) for name, dtype in columns])


def md_table(rows: list[dict]) -> str:
    """A markdown table of dict rows (floats to four decimals)."""
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(lines)


def partition_label(days: list[dt.date]) -> str | None:
    """One day, or `first...last` for a range run (as the run-failure alerts name it)."""
    if not days:
        return None
    return days[0].isoformat() if len(days) == 1 else f"{days[0]}...{days[-1]}"


def json_safe(metrics: Mapping[str, object]) -> dict:
    """Metadata from plain figures: lists and dicts as JSON, None left out."""
    return {
        k: (dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v) for k, v in metrics.items() if v is not None
    }
