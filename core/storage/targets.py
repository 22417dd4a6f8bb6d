"""The business's own KPI targets: a CSV file named in the settings, loaded into `reference.kpi_targets`.

Without a file the table is empty, so `kpi_monthly` and the dashboard show values and no met /
missed verdicts, never someone else's targets.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import duckdb

COLUMNS = {"kpi": "VARCHAR", "target": "DOUBLE", "direction": "VARCHAR", "unit": "VARCHAR", "description": "VARCHAR"}
TABLE = "reference.kpi_targets"
DIRECTIONS = {"higher", "lower"}


class KpiTargetsError(ValueError):
    """The targets file is invalid; the message names the file, the line and what to change."""


def load_kpi_targets(path: Path | None) -> list[dict]:
    """The targets of the file (none without one), checked: known columns, one row per KPI, a number
    for every target, `higher` or `lower` for every direction."""
    if path is None:
        return []
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"kpi", "target", "direction"} - set(reader.fieldnames or ())
            if missing:
                raise KpiTargetsError(
                    f"{path}: the header lacks {sorted(missing)}; columns: kpi,target,direction,unit,description"
                )
            rows, seen = [], set()
            for line, raw in enumerate(reader, start=2):
                kpi = (raw.get("kpi") or "").strip()
                try:
                    target = float(raw["target"])
                except (TypeError, ValueError):
                    raise KpiTargetsError(
                        f"{path}: line {line}: target {raw.get('target')!r} is not a number"
                    ) from None
                direction = (raw.get("direction") or "").strip().lower()
                if not kpi or kpi in seen:
                    raise KpiTargetsError(f"{path}: line {line}: every line needs its own kpi name ({kpi!r})")
                if direction not in DIRECTIONS or not math.isfinite(target):
                    raise KpiTargetsError(
                        f"{path}: line {line}: direction must be higher or lower and the target finite"
                    )
                seen.add(kpi)
                rows.append(
                    {
                        "kpi": kpi,
                        "target": target,
                        "direction": direction,
                        "unit": (raw.get("unit") or "").strip() or None,
                        "description": (raw.get("description") or "").strip() or None,
                    }
                )
    except OSError as exc:
        raise KpiTargetsError(f"{path}: cannot read the KPI targets ({exc}); fix DMP_KPI_TARGETS") from exc
    return rows


def write_kpi_targets(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> int:
    """Replace `reference.kpi_targets` with the rows (an empty table without any), in one transaction."""
    con.execute("begin transaction")
    con.execute("create schema if not exists reference")
    con.execute(f"create or replace table {TABLE} ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())})")
    if rows:
        con.executemany(f"insert into {TABLE} values (?, ?, ?, ?, ?)", [[r[c] for c in COLUMNS] for r in rows])
    con.execute("commit")
    return len(rows)
