"""Source contracts and export mappings.

A contract (``expectations/contracts/<source>.yaml``) says what the platform needs from a source:
columns, types, required fields, allowed values and ranges, the source key and the event-time
column. Its ``mapping`` block says how one particular export is laid out: file names, delimiter,
encoding, null tokens, timestamp formats and timezone, column names and value codes. A user brings
their own export by writing a mapping file (``<mappings_dir>/<source>.yaml``) that overrides the
contract's default mapping; no code changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

TYPES = {"string", "integer", "decimal", "timestamp", "date", "boolean"}
FORMATS = {"csv", "jsonl"}
COLUMN_KEYS = {
    "name",
    "type",
    "required",
    "required_unless",
    "allowed",
    "min",
    "max",
    "pattern",
    "description",
    "pii",
    "scale",
}
MAPPING_KEYS = {
    "file_glob",
    "delimiter",
    "encoding",
    "quote",
    "null_tokens",
    "timestamp_formats",
    "date_formats",
    "timezone",
    "columns",
    "values",
    "returns",
    "format",
    "true_values",
    "false_values",
    "scale",
    "ranges",
    "multiple_files",
    "constants",
    "derived_keys",
    "cancelled_when",
    "closed_days",
}
WHITESPACE = "whitespace"  # mapping.delimiter for fields separated by runs of blanks (fixed-width reports)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SCALE = 12  # decimal places a mapping may declare (DECIMAL(18, scale))


class ContractError(ValueError):
    """A contract or mapping file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    description: str = ""
    pii: bool = False
    scale: int = 2
    required_unless: str | None = None  # required unless this other column has a value

    @property
    def sql_type(self) -> str:
        return {
            "string": "VARCHAR",
            "integer": "BIGINT",
            "decimal": f"DECIMAL(18,{self.scale})",
            "timestamp": "TIMESTAMP",
            "date": "DATE",
            "boolean": "BOOLEAN",
        }[self.type]


@dataclass(frozen=True)
class Mapping:
    """How one export is laid out. Every field has a default that fits the simulated exports."""

    format: str = "csv"
    file_glob: str = "{date}*.csv"
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    null_tokens: tuple[str, ...] = ("", "NULL", "null", "N/A", "\\N")
    timestamp_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S")
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    timezone: str = "UTC"
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> export column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # contract column -> {export: contract}
    returns: str = "negative_quantity"  # or "status": rows whose status is 'returned' are negated
    true_values: tuple[str, ...] = ("true", "t", "1", "yes", "y")
    false_values: tuple[str, ...] = ("false", "f", "0", "no", "n")
    scale: dict[str, int] = field(default_factory=dict)  # decimal column -> decimal places of this export
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)  # column -> {min, max} replacing the contract's
    multiple_files: bool = False  # several files a day are normal (else a second match is a file problem)
    constants: dict[str, str] = field(default_factory=dict)  # column the export lacks -> its value
    derived_keys: dict[str, object] = field(default_factory=dict)  # column -> "record" | {hash: [columns]}
    cancelled_when: dict[str, str] = field(default_factory=dict)  # column -> regex marking a cancellation
    closed_days: dict[str, tuple] = field(default_factory=dict)  # {weekdays: [...], dates: [...]}: no export

    def is_closed(self, day: dt.date) -> bool:
        """A day the business is closed: no export (or an empty one) is normal, and volume is not judged."""
        return WEEKDAYS[day.weekday()] in self.closed_days.get("weekdays", ()) or day in self.closed_days.get(
            "dates", ()
        )

    def export_name(self, column: str) -> str:
        return self.columns.get(column, column)

    @property
    def spans_days(self) -> bool:
        """The file_glob has no `{date}`: one export holds many days, and each day's partition takes
        the records whose event time falls on it."""
        return "{date}" not in self.file_glob

    @property
    def reads_lines(self) -> bool:
        """Records are read as whole lines and split here (JSON lines, blank-separated fields)."""
        return self.format == "jsonl" or self.delimiter == WHITESPACE

    def day_glob(self, day: dt.date) -> str:
        return self.file_glob.replace("{date}", day.isoformat())


@dataclass(frozen=True)
class Contract:
    source: str
    description: str
    optional: bool
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    mapping: Mapping
    event_time: str | None = None
    allowed_lateness_days: int = 3
    returns_negate: tuple[str, ...] = ()  # columns negated for returned rows when mapping.returns == status
    value_columns: tuple[str, ...] = ()  # their product is a row's value (quarantine weighed by value)
    value_amount: str | None = None  # a column holding the row's value itself, used where it has one
    path: Path | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _fail(path: Path, where: str, problem: str) -> ContractError:
    return ContractError(f"{path}: {where}: {problem}")


def _parse_column(path: Path, i: int, raw: Any) -> Column:
    where = f"columns[{i}]"
    if not isinstance(raw, dict) or "name" not in raw:
        raise _fail(path, where, "each column needs at least 'name' and 'type'")
    where = f"columns[{i}] ({raw['name']})"
    unknown = set(raw) - COLUMN_KEYS
    if unknown:
        raise _fail(path, where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(COLUMN_KEYS)}")
    ctype = raw.get("type")
    if ctype not in TYPES:
        raise _fail(path, where, f"type {ctype!r} is not one of {sorted(TYPES)}")
    if raw.get("pattern") is not None:
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise _fail(path, where, f"pattern {raw['pattern']!r} is not a valid regular expression: {exc}") from None
    for bound in ("min", "max"):
        if raw.get(bound) is not None and ctype not in {"integer", "decimal"}:
            raise _fail(path, where, f"'{bound}' only applies to integer and decimal columns, not {ctype}")
    allowed = raw.get("allowed")
    if allowed is not None and (not isinstance(allowed, list) or not allowed):
        raise _fail(path, where, "'allowed' must be a non-empty list of values")
    return Column(
        name=str(raw["name"]),
        type=ctype,
        required=bool(raw.get("required", False)),
        allowed=tuple(allowed) if allowed is not None else None,
        min=raw.get("min"),
        max=raw.get("max"),
        pattern=raw.get("pattern"),
        description=str(raw.get("description", "")),
        pii=bool(raw.get("pii", False)),
        scale=int(raw.get("scale", 2)),
        required_unless=raw.get("required_unless"),
    )


def _closed_days(path: Path, raw: object) -> dict[str, tuple]:
    if not raw:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"weekdays", "dates"}:
        raise _fail(path, "mapping.closed_days", "must be a mapping with 'weekdays' and/or 'dates' lists")
    weekdays = tuple(str(w).lower() for w in raw.get("weekdays") or ())
    unknown = [w for w in weekdays if w not in WEEKDAYS]
    if unknown:
        raise _fail(path, "mapping.closed_days.weekdays", f"unknown weekday(s) {unknown}; use {list(WEEKDAYS)}")
    dates = []
    for value in raw.get("dates") or ():
        try:
            dates.append(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
        except ValueError:
            raise _fail(path, "mapping.closed_days.dates", f"{value!r} is not a date (YYYY-MM-DD)") from None
    return {"weekdays": weekdays, "dates": tuple(dates)}


def parse_mapping(path: Path, raw: Any, base: Mapping | None = None, columns: set[str] | None = None) -> Mapping:
    """Validate a mapping block and lay it over ``base`` (field by field)."""
    if raw is None:
        return base or Mapping()
    if not isinstance(raw, dict):
        raise _fail(path, "mapping", "must be a mapping of settings")
    unknown = set(raw) - MAPPING_KEYS
    if unknown:
        raise _fail(path, "mapping", f"unknown key(s) {sorted(unknown)}; allowed: {sorted(MAPPING_KEYS)}")
    merged = dict((base or Mapping()).__dict__)
    for key, value in raw.items():
        if key in {"null_tokens", "timestamp_formats", "date_formats", "true_values", "false_values"}:
            if not isinstance(value, list):
                raise _fail(path, f"mapping.{key}", "must be a list")
            value = tuple(str(v) for v in value)
        merged[key] = value
    m = Mapping(**merged)
    if m.format not in FORMATS:
        raise _fail(path, "mapping.format", f"{m.format!r} is not one of {sorted(FORMATS)}")
    if len(m.delimiter) != 1 and m.delimiter != WHITESPACE:
        raise _fail(
            path, "mapping.delimiter", f"must be one character or {WHITESPACE!r} (runs of blanks), got {m.delimiter!r}"
        )
    if not isinstance(m.file_glob, str) or not m.file_glob.strip() or "/" in m.file_glob:
        raise _fail(path, "mapping.file_glob", f"must be a file name pattern (no '/'), got {m.file_glob!r}")
    if m.returns not in {"negative_quantity", "status", "sign"}:
        raise _fail(path, "mapping.returns", f"must be 'negative_quantity', 'status' or 'sign', got {m.returns!r}")
    try:
        ZoneInfo(m.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            path, "mapping.timezone", f"unknown timezone {m.timezone!r} (use an IANA name like 'Asia/Shanghai')"
        ) from None
    try:
        "".encode(m.encoding)
    except LookupError:
        raise _fail(path, "mapping.encoding", f"unknown encoding {m.encoding!r}") from None
    if not isinstance(m.columns, dict) or not isinstance(m.values, dict):
        raise _fail(path, "mapping", "'columns' and 'values' must be mappings")
    for name, rule in m.derived_keys.items():
        if rule != "record" and not (
            isinstance(rule, dict) and list(rule) == ["hash"] and isinstance(rule["hash"], list) and rule["hash"]
        ):
            raise _fail(
                path,
                f"mapping.derived_keys.{name}",
                "must be 'record' (file name and record number) or {hash: [export columns]}",
            )
    for name, pattern in m.cancelled_when.items():
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise _fail(path, f"mapping.cancelled_when.{name}", f"not a valid regular expression: {exc}") from None
    if not isinstance(m.constants, dict) or not all(isinstance(v, (str, int, float)) for v in m.constants.values()):
        raise _fail(path, "mapping.constants", "must map contract columns to plain values")
    m = dataclasses.replace(m, constants={k: str(v) for k, v in m.constants.items()})
    m = dataclasses.replace(m, closed_days=_closed_days(path, m.closed_days))
    if not isinstance(m.multiple_files, bool):
        raise _fail(path, "mapping.multiple_files", f"must be true or false, got {m.multiple_files!r}")
    if not isinstance(m.scale, dict) or not isinstance(m.ranges, dict):
        raise _fail(path, "mapping", "'scale' and 'ranges' must be mappings of contract column to value")
    for name, places in m.scale.items():
        if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= MAX_SCALE:
            raise _fail(path, f"mapping.scale.{name}", f"must be a whole number of decimal places 0..{MAX_SCALE}")
    for name, bounds in m.ranges.items():
        if not isinstance(bounds, dict) or set(bounds) - {"min", "max"} or not bounds:
            raise _fail(path, f"mapping.ranges.{name}", "must be a mapping with 'min' and/or 'max'")
        for bound, value in bounds.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _fail(path, f"mapping.ranges.{name}.{bound}", f"must be a number or null, got {value!r}")
    if columns is not None:
        for section in ("columns", "values", "scale", "ranges", "constants", "derived_keys", "cancelled_when"):
            stray = set(getattr(m, section)) - columns
            if stray:
                raise _fail(
                    path,
                    f"mapping.{section}",
                    f"unknown contract column(s) {sorted(stray)}; contract columns: {sorted(columns)}",
                )
    return m


def _apply_mapping_to_columns(path: Path, columns: tuple[Column, ...], mapping: Mapping) -> tuple[Column, ...]:
    """The contract's columns with the export's own decimal places and ranges (the mapping's `scale`, `ranges`)."""
    out = []
    for col in columns:
        if col.name in mapping.scale:
            if col.type != "decimal":
                raise _fail(path, f"mapping.scale.{col.name}", f"only decimal columns have a scale, not {col.type}")
            col = dataclasses.replace(col, scale=mapping.scale[col.name])
        if col.name in mapping.ranges:
            if col.type not in {"integer", "decimal"}:
                raise _fail(
                    path, f"mapping.ranges.{col.name}", f"only integer and decimal columns have a range, not {col.type}"
                )
            col = dataclasses.replace(col, **mapping.ranges[col.name])
        out.append(col)
    return tuple(out)


def load_contract(path: Path, mapping_override: Path | None = None) -> Contract:
    """Load one contract, applying a user's mapping file if given."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: expected a mapping at the top level")
    for required in ("source", "key", "columns"):
        if required not in raw:
            raise _fail(path, required, "missing")
    columns = tuple(_parse_column(path, i, c) for i, c in enumerate(raw["columns"]))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise _fail(path, "columns", "column names must be unique")
    key = tuple(raw["key"])
    for k in key:
        if k not in names:
            raise _fail(path, "key", f"key column {k!r} is not among the columns")
        if not columns[names.index(k)].required:
            raise _fail(path, "key", f"key column {k!r} must be required: true")
    event_time = raw.get("event_time")
    if event_time is not None and event_time not in names:
        raise _fail(path, "event_time", f"{event_time!r} is not among the columns")
    for col in columns:
        if col.required_unless is not None and (col.required or col.required_unless not in names):
            raise _fail(
                path,
                f"columns ({col.name})",
                f"required_unless names {col.required_unless!r}: it must be another column, and the column "
                "must not also be required: true",
            )
    mapping = parse_mapping(path, raw.get("mapping"), columns=set(names))
    if mapping_override is not None and mapping_override.exists():
        try:
            user = yaml.safe_load(mapping_override.read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError) as exc:  # a bad date such as 2026-13-01 is a ValueError
            raise ContractError(f"{mapping_override}: not valid YAML: {exc}") from exc
        if isinstance(user, dict) and "mapping" in user:
            user = user["mapping"]
        mapping = parse_mapping(mapping_override, user, base=mapping, columns=set(names))
    columns = _apply_mapping_to_columns(path, columns, mapping)
    returns_negate = tuple(raw.get("returns_negate", ()))
    value_columns = tuple(raw.get("value", ()))
    for name in value_columns:
        if name not in names or columns[names.index(name)].type not in {"integer", "decimal"}:
            raise _fail(path, "value", f"{name!r} must be an integer or decimal column of the contract")
    value_amount = raw.get("value_amount")
    if value_amount is not None and (value_amount not in names or columns[names.index(value_amount)].type != "decimal"):
        raise _fail(path, "value_amount", f"{value_amount!r} must be a decimal column of the contract")
    if mapping.spans_days and event_time is None:
        raise _fail(
            mapping_override or path,
            "mapping.file_glob",
            f"{mapping.file_glob!r} has no '{{date}}', so a file holds many days and is split by event time, "
            f"but {raw['source']} has no event_time column; put '{{date}}' in the file name pattern",
        )
    if mapping.returns == "status" and "status" not in names:
        raise _fail(path, "mapping.returns", "'status' needs a 'status' column in the contract")
    return Contract(
        source=str(raw["source"]),
        description=str(raw.get("description", "")),
        optional=bool(raw.get("optional", True)),
        key=key,
        columns=columns,
        mapping=mapping,
        event_time=event_time,
        allowed_lateness_days=int(raw.get("allowed_lateness_days", 3)),
        returns_negate=returns_negate,
        value_columns=value_columns,
        value_amount=value_amount,
        path=path,
    )


def load_contracts(contracts_dir: Path, mappings_dir: Path | None = None) -> dict[str, Contract]:
    """Every contract in the directory, by source name, with user mappings applied."""
    if not contracts_dir.is_dir():
        raise ContractError(f"contracts directory {contracts_dir} does not exist")
    out: dict[str, Contract] = {}
    for path in sorted(contracts_dir.glob("*.yaml")):
        override = (mappings_dir / path.name) if mappings_dir else None
        contract = load_contract(path, override)
        if contract.source != path.stem:
            raise _fail(path, "source", f"{contract.source!r} must match the file name {path.stem!r}")
        out[contract.source] = contract
    if mappings_dir is not None and mappings_dir.is_dir():
        stray = sorted(p.stem for p in mappings_dir.glob("*.yaml") if p.stem not in out)
        if stray:
            raise ContractError(
                f"{mappings_dir}: mapping file(s) for unknown source(s) {stray}; known sources: {sorted(out)}"
            )
    return out
