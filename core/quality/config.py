"""The alerting configuration (`expectations/alerting.yaml`): levels and thresholds in one place.

Each YAML section is one typed dataclass below and each key one of its fields, so a new threshold
is one YAML key plus one field; unknown sections and keys are refused with the list of known ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LEVELS = ("red", "yellow", "blue")


class QualityConfigError(ValueError):
    """A suite or the alerting configuration is invalid; the message names the file and field."""


@dataclass(frozen=True)
class QuarantineRate:
    yellow: float = 0.02
    red: float = 0.10
    min_rows_for_red: int = 200


@dataclass(frozen=True)
class SchemaDrift:
    retyped_share: float = 0.5


@dataclass(frozen=True)
class Freshness:
    max_lag_days: int = 2
    sources: tuple[str, ...] = ("orders",)


@dataclass(frozen=True)
class Volume:
    trailing_days: int = 28
    min_history_days: int = 7
    drop_ratio_red: float = 0.5
    robust_z_yellow: float = 4.0
    min_median_for_red: float = 50.0
    sources: tuple[str, ...] = ("orders", "events")
    compare: str = "all_days"  # or "same_weekday" (then trailing_days should hold 7+ weeks)


@dataclass(frozen=True)
class Kpi:
    months_missed_yellow: int = 3
    minor_gap_blue: float = 0.10


@dataclass(frozen=True)
class Complaints:
    trailing_days: int = 28
    ratio_yellow: float = 3.0
    min_tickets: int = 5


@dataclass(frozen=True)
class Webhook:
    timeout_seconds: float = 5.0
    retries: int = 3
    backoff_seconds: float = 1.0


@dataclass(frozen=True)
class AlertingConfig:
    quarantine_rate: QuarantineRate = field(default_factory=QuarantineRate)
    schema_drift: SchemaDrift = field(default_factory=SchemaDrift)
    freshness: Freshness = field(default_factory=Freshness)
    volume: Volume = field(default_factory=Volume)
    kpi: Kpi = field(default_factory=Kpi)
    complaints: Complaints = field(default_factory=Complaints)
    webhook: Webhook = field(default_factory=Webhook)


def _section(path: Path, name: str, cls: type, values: Any) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise QualityConfigError(f"{path}: {name} must be a mapping of keys to values")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise QualityConfigError(f"{path}: {name}.{key} is unknown; known: {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_alerting_config(path: Path) -> AlertingConfig:
    """Read `expectations/alerting.yaml` (levels and thresholds in one place)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise QualityConfigError(f"{path}: cannot read the alerting configuration: {exc}") from exc
    sections = {f.name: f.default_factory for f in dataclasses.fields(AlertingConfig)}
    for name in raw:
        if name not in sections:
            raise QualityConfigError(f"{path}: unknown section {name!r}; known: {sorted(sections)}")
    config = AlertingConfig(**{name: _section(path, name, cls, raw.get(name)) for name, cls in sections.items()})
    if config.volume.compare not in {"all_days", "same_weekday"}:
        raise QualityConfigError(
            f"{path}: volume.compare must be all_days or same_weekday, got {config.volume.compare!r}"
        )
    if not 0 <= config.quarantine_rate.yellow <= config.quarantine_rate.red <= 1:
        raise QualityConfigError(f"{path}: quarantine_rate needs 0 <= yellow <= red <= 1")
    return config
