"""Schema drift of a run's export files against the contract."""

from __future__ import annotations

import json
from pathlib import Path

from core.collection.contracts import Contract, Mapping
from core.collection.files import header_fields, open_text
from core.quality.config import AlertingConfig
from core.quality.rules import CheckOutcome, schema_drift


def export_columns(path: Path, mapping: Mapping, sample_lines: int = 200) -> list[str]:
    """The columns an export file has: its CSV header, or the keys seen in its first JSON lines."""
    if mapping.format == "csv":
        with open_text(path, mapping.encoding) as fh:
            return header_fields(fh.readline(), mapping)
    keys: list[str] = []
    with open_text(path, mapping.encoding) as fh:
        for _, line in zip(range(sample_lines), fh):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                keys.extend(k for k in record if k not in keys)
    return keys


def files_drift(
    contract: Contract, files: list[Path], rows_read: int, reasons: dict[str, int], config: AlertingConfig
) -> CheckOutcome:
    """Columns found in the files vs the contract's export columns, and columns that mostly fail their type."""
    m = contract.mapping
    expected = {m.export_name(c.name): c.required for c in contract.columns}
    found: list[str] = []
    for path in files:
        found.extend(c for c in export_columns(path, m) if c not in found)
    invalid: dict[str, float] = {}
    for reason, n in reasons.items():
        kind, _, column = reason.partition(":")
        if kind.startswith("invalid_") and column:
            name = m.export_name(column)
            invalid[name] = invalid.get(name, 0) + n
    share = {c: n / rows_read for c, n in invalid.items()} if rows_read else {}
    if not found:
        return CheckOutcome(True, None, "no export files in this run", {})
    return schema_drift(found, expected, share, config)
