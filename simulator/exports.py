"""Turn the business's daily rows into export files, with the defects real exports have.

Each source is written as `landing/<source>/<YYYY-MM-DD>.<csv|jsonl>`. Defects are injected on
disjoint rows, so the ground truth can say exactly how many rows of each file the collection
layer must quarantine and why.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.business import Business


@dataclass(frozen=True)
class DefectRates:
    """Per-row probabilities of each kind of dirty data (0 switches one off)."""

    duplicate: float = 0.01  # the same line exported twice
    malformed: float = 0.004  # a line cut short (CSV: missing fields; JSON: truncated object)
    missing_required: float = 0.003  # a required field left empty
    bad_timestamp: float = 0.002  # a timestamp that no declared format parses
    unknown_category: float = 0.003  # a categorical value outside the contract
    out_of_range: float = 0.002  # a number outside its allowed range
    alt_timestamp_format: float = 0.05  # valid, but '%Y/%m/%d %H:%M:%S' instead of ISO
    other_timezone: float = 0.03  # valid, ISO with a +08:00 offset instead of UTC
    late_arrival: float = 0.02  # events of day D delivered in the file of D+1 or D+2

    @classmethod
    def none(cls) -> DefectRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    # Defects that the collection layer must quarantine (the others are valid variations).
    QUARANTINED = ("duplicate", "malformed", "missing_required", "bad_timestamp", "unknown_category", "out_of_range")


@dataclass(frozen=True)
class SourceSpec:
    fmt: str
    timestamps: tuple[str, ...] = ()
    required: str | None = None
    category: tuple[str, str] | None = None  # (column, a value outside the contract)
    out_of_range: tuple[str, str] | None = None  # (column, a value outside the allowed range)
    late: bool = False
    decimals: tuple[str, ...] = ()


SOURCES: dict[str, SourceSpec] = {
    "orders": SourceSpec(
        "csv",
        ("ordered_at", "recorded_at"),
        "product_id",
        ("order_channel", "tiktok_shop"),
        ("unit_price", "-5.00"),
        decimals=("unit_price", "discount_amount"),
    ),
    "users": SourceSpec("csv", ("signed_up_at",), "customer_id", ("acquisition_channel", "tv_ads")),
    "events": SourceSpec("jsonl", ("event_at",), "event_type", ("channel", "tiktok"), late=True),
    "marketing_spend": SourceSpec("csv", (), "campaign", ("channel", "radio"), ("clicks", "-3"), decimals=("spend",)),
    "products": SourceSpec(
        "csv",
        (),
        "category",
        ("category", "toys"),
        ("list_price", "-1.00"),
        decimals=("list_price", "unit_cost", "promo_discount_pct"),
    ),
    "inventory": SourceSpec("csv", (), "product_id", None, ("on_hand_units", "-7")),
    "nps_surveys": SourceSpec("csv", ("responded_at",), "customer_id", None, ("score", "11")),
    "support_tickets": SourceSpec("csv", ("created_at",), "customer_id", ("category", "lost_parcel")),
    "experiments": SourceSpec("csv", ("assigned_at",), "customer_id", ("variant", "treatment_b")),
}

ISO = "%Y-%m-%d %H:%M:%S"
ALT = "%Y/%m/%d %H:%M:%S"
GARBAGE_TIMES = np.array(["31/31/2026 99:99", "yesterday", "2026-02-30 10:00:00", "0000-00-00 00:00:00"])


def _to_strings(df: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """Render every column as export text (None for an empty field), as object columns."""

    def text(v) -> str | None:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        return str(v)

    out = {}
    for col in df.columns:
        s = df[col]
        if col in spec.timestamps:
            values = pd.to_datetime(s).dt.strftime(ISO).tolist()
        elif col in spec.decimals:
            values = [f"{v:.2f}" for v in s.tolist()]
        elif s.dtype == bool:
            values = ["true" if v else "false" for v in s.tolist()]
        elif pd.api.types.is_datetime64_any_dtype(s):
            values = pd.to_datetime(s).dt.strftime("%Y-%m-%d").tolist()
        elif isinstance(s.iloc[0] if len(s) else None, dt.date):
            values = [v.isoformat() for v in s.tolist()]
        elif pd.api.types.is_float_dtype(s):
            values = [None if np.isnan(v) else f"{v:.2f}" for v in s.tolist()]
        else:
            values = [text(v) for v in s.tolist()]
        out[col] = np.array(values, dtype=object)
    return pd.DataFrame(out, columns=df.columns, dtype=object)


def _serialize(df: pd.DataFrame, fmt: str) -> list[str]:
    if df.empty:
        return []
    if fmt == "csv":
        text = df.to_csv(index=False, header=False, lineterminator="\n")
        return text.split("\n")[:-1]
    cols = list(df.columns)
    return [json.dumps(dict(zip(cols, row)), ensure_ascii=False) for row in df.itertuples(index=False, name=None)]


class ExportWriter:
    """Writes each day's rows to the landing zone, injecting defects and recording the truth."""

    def __init__(self, landing: Path, seed: int, rates: DefectRates) -> None:
        self.landing = landing
        self.rng = np.random.default_rng(seed + 1_000_003)
        self.rates = rates
        self.late_buffer: dict[tuple[str, dt.date], list[str]] = {}
        self.truth_rows: list[tuple[str, str, str, int]] = []

    def write_day(self, day: dt.date, frames: dict[str, pd.DataFrame], last_day: dt.date) -> None:
        for source, df in frames.items():
            self._write_source(source, SOURCES[source], day, df, last_day)

    def _write_source(self, source: str, spec: SourceSpec, day: dt.date, df: pd.DataFrame, last_day: dt.date):
        rng, rates = self.rng, self.rates
        text = _to_strings(df.reset_index(drop=True), spec)
        n = len(text)
        counts: dict[str, int] = {}
        order = rng.permutation(n)
        cursor = 0

        def take(name: str, rate: float, allowed: bool = True) -> np.ndarray:
            nonlocal cursor
            k = int(rng.binomial(n, rate)) if (allowed and n and rate > 0) else 0
            k = min(k, n - cursor)
            rows = order[cursor : cursor + k]
            cursor += k
            if k:
                counts[name] = k
            return rows

        ts_cols = list(spec.timestamps)
        for r in take("alt_timestamp_format", rates.alt_timestamp_format, bool(ts_cols)):
            for c in ts_cols:
                text.iat[r, text.columns.get_loc(c)] = dt.datetime.strptime(
                    text.iat[r, text.columns.get_loc(c)], ISO
                ).strftime(ALT)
        for r in take("other_timezone", rates.other_timezone, bool(ts_cols)):
            for c in ts_cols:
                t = dt.datetime.strptime(text.iat[r, text.columns.get_loc(c)], ISO) + dt.timedelta(hours=8)
                text.iat[r, text.columns.get_loc(c)] = t.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        for r in take("bad_timestamp", rates.bad_timestamp, bool(ts_cols)):
            text.iat[r, text.columns.get_loc(ts_cols[-1])] = str(rng.choice(GARBAGE_TIMES))
        for r in take("missing_required", rates.missing_required, spec.required is not None):
            text.iat[r, text.columns.get_loc(spec.required)] = None
        for r in take("unknown_category", rates.unknown_category, spec.category is not None):
            text.iat[r, text.columns.get_loc(spec.category[0])] = spec.category[1]
        for r in take("out_of_range", rates.out_of_range, spec.out_of_range is not None):
            text.iat[r, text.columns.get_loc(spec.out_of_range[0])] = spec.out_of_range[1]
        late_rows = take("late_departure", rates.late_arrival, spec.late and day < last_day)
        malformed = take("malformed", rates.malformed)
        dup_src = take("duplicate", rates.duplicate)
        counts.pop("late_departure", None)

        lines = _serialize(text, spec.fmt)
        for r in malformed:
            line = lines[r]
            if spec.fmt == "csv":
                lines[r] = ",".join(line.split(",")[:3])
            else:
                lines[r] = line[: max(5, len(line) // 2)]
        # Late rows leave today's file for the file of D+1 or D+2 (never past the last day).
        late_set = set(late_rows.tolist())
        for r in late_rows:
            target = min(day + dt.timedelta(days=int(rng.integers(1, 3))), last_day)
            self.late_buffer.setdefault((source, target), []).append(lines[r])
        keep = np.array([i for i in range(n) if i not in late_set], dtype=np.int64)
        # Duplicates are inserted after their original, at a random later position.
        pos = np.concatenate([keep.astype(float), np.array([rng.uniform(r + 0.1, n + 0.9) for r in dup_src])])
        src = np.concatenate([keep, dup_src.astype(np.int64)])
        out = [lines[i] for i in src[np.argsort(pos, kind="stable")]]
        arrived = self.late_buffer.pop((source, day), [])
        if arrived:
            counts["late_arrival"] = len(arrived)
        out.extend(arrived)

        folder = self.landing / source
        folder.mkdir(parents=True, exist_ok=True)
        header = (",".join(df.columns) + "\n") if spec.fmt == "csv" else ""
        body = "".join(line + "\n" for line in out)
        (folder / f"{day.isoformat()}.{spec.fmt}").write_text(header + body, encoding="utf-8", newline="")
        fname = f"{source}/{day.isoformat()}.{spec.fmt}"
        self.truth_rows.append((source, fname, "rows_written", len(out)))
        for name, k in sorted(counts.items()):
            self.truth_rows.append((source, fname, name, k))


@dataclass(frozen=True)
class SimulationConfig:
    start: dt.date
    end: dt.date
    seed: int = 7
    scale: float = 1.0
    defects: DefectRates = DefectRates()
    sources: tuple[str, ...] = tuple(SOURCES)
    # False switches off the behavioural drivers (churn hazard, engagement, seasonality, price and
    # promotion effects): a business whose retention and demand no model can predict.
    drivers: bool = True
    # The catalogue's size; None grows it with the scale (40 x sqrt(scale), at least 20).
    products: int | None = None


def simulate(config: SimulationConfig, landing: Path, truth_dir: Path) -> dict:
    """Simulate every day of the range, writing exports day by day. Returns a small summary."""
    business = Business(
        config.start, config.end, config.seed, config.scale, drivers=config.drivers, products=config.products
    )
    writer = ExportWriter(landing, config.seed, config.defects)
    day = config.start
    rows = dict.fromkeys(config.sources, 0)
    while day <= config.end:
        out = business.simulate_day(day)
        frames = {s: f for s, f in out.frames.items() if s in config.sources}
        writer.write_day(day, frames, config.end)
        for s, f in frames.items():
            rows[s] += len(f)
        day += dt.timedelta(days=1)

    truth_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(writer.truth_rows, columns=["source", "file", "defect", "rows"]).to_csv(
        truth_dir / "defects.csv", index=False, lineterminator="\n"
    )
    business.customers_truth().to_csv(truth_dir / "customers.csv", index=False, lineterminator="\n")
    manifest = {
        "start": config.start.isoformat(),
        "end": config.end.isoformat(),
        "seed": config.seed,
        "scale": config.scale,
        "defect_rates": asdict(config.defects),
        "sources": list(config.sources),
        "experiments": [
            {
                "experiment_id": e.experiment_id,
                "start": e.start.isoformat(),
                "end": e.end.isoformat(),
                "true_relative_effect_on_checkout_conversion": e.relative_effect,
            }
            for e in business.experiments
        ],
        "complaint_spike_days": business.complaint_spike_days,
        "rows_generated": rows,
    }
    (truth_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
