"""The KPI dashboard: one static, self-contained HTML page for managers, built from the serving snapshot.

It reads the snapshot (never the warehouse) read-only and draws every chart as inline SVG here,
in Python: no CDN, no external script or style sheet, nothing fetched when the page opens. A few
lines of inline JavaScript only add hover tooltips. Sections:

- KPI tiles for the latest month and monthly trends against their targets (`marts.kpi_monthly`,
  `reference.kpi_targets`);
- paid channels' ROAS and CAC over the last 30 days (`marts.kpi_channel_daily`);
- the monthly cohort retention heat map (`marts.kpi_retention_cohorts`);
- lifecycle segment sizes, their trend and the moves between stages (`marts.segment_daily`);
- the demand forecast against actual units (`application.demand_forecast`, `marts.kpi_inventory_daily`
  or `marts.kpi_daily`), or "no forecast yet";
- the latest red / yellow / blue alerts (`ops.alerts`) and the A/B test results
  (`application.ab_test_results`).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

TREND_KPIS = ("net_revenue", "orders", "aov", "active_users", "conversion_rate", "repurchase_rate")
STAGES = ("new", "active", "retained", "at_risk", "churned")
LEVELS = ("red", "yellow", "blue")
CHANNEL_DAYS = 30
SEGMENT_MOVE_DAYS = 30
FORECAST_HISTORY_DAYS = 56
RECENT_ALERTS = 30
PALETTE = ("#2563eb", "#059669", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#4b5563")
STAGE_COLORS = dict(zip(STAGES, ("#2563eb", "#059669", "#0891b2", "#d97706", "#6b7280")))
LEVEL_COLORS = {"red": "#dc2626", "yellow": "#ca8a04", "blue": "#2563eb"}


# ------------------------------------------------------------------ data
@dataclass
class DashboardData:
    """What the page shows, read from one snapshot (frames may be empty, forecast/ab may be None)."""

    published_at: dt.datetime | None
    latest_day: dt.date | None
    kpi_monthly: pd.DataFrame
    targets: pd.DataFrame
    channels: pd.DataFrame
    cohorts: pd.DataFrame
    segment_sizes: pd.DataFrame
    segment_trend: pd.DataFrame
    segment_moves: pd.DataFrame
    forecast: pd.DataFrame | None
    actual_units: pd.DataFrame
    alerts: pd.DataFrame
    ab_results: pd.DataFrame | None


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}


def _frame(con: duckdb.DuckDBPyConnection, tables: set[str], needs: Sequence[str], sql: str,
           params: list | None = None) -> pd.DataFrame:
    """Run `sql` when every table it needs is in the snapshot; an empty frame otherwise."""
    if not set(needs) <= tables:
        return pd.DataFrame()
    return con.execute(sql, params or []).df()


def load_dashboard_data(snapshot: Path) -> DashboardData:
    """Read everything the page shows from the serving snapshot (opened read-only)."""
    if not Path(snapshot).exists():
        raise FileNotFoundError(f"serving snapshot {snapshot} does not exist: materialise service/serving_snapshot first")
    with duckdb.connect(str(snapshot), read_only=True) as con:
        t = _tables(con)
        meta = _frame(con, t, ["meta.snapshot"], "select max(published_at) as published_at from meta.snapshot")
        latest = _frame(con, t, ["marts.kpi_daily"], "select max(kpi_date) as d from marts.kpi_daily")
        latest_day = latest["d"].iloc[0] if len(latest) and pd.notna(latest["d"].iloc[0]) else None
        latest_day = pd.Timestamp(latest_day).date() if latest_day is not None else None
        seg_latest = _frame(con, t, ["marts.segment_daily"], "select max(segment_date) as d from marts.segment_daily")
        seg_day = seg_latest["d"].iloc[0] if len(seg_latest) else None
        forecast = None
        if "application.demand_forecast" in t:
            columns = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'application' "
                "and table_name = 'demand_forecast'").fetchall()}
            expected = "expected_units" if "expected_units" in columns else "p50"  # older tables: no mean
            forecast = con.execute(f"""
                with latest as (
                    select *, row_number() over (partition by product_id, forecast_date
                                                 order by generated_at desc) as rn
                    from application.demand_forecast
                )
                select forecast_date, sum(p10) as p10, sum(p50) as p50, sum(p90) as p90,
                       sum({expected}) as expected, count(*) as products,
                       max(model_version) as model_version, max(method) as method, max(generated_at) as generated_at
                from latest where rn = 1 group by forecast_date order by forecast_date""").df()
            if forecast.empty:
                forecast = None
        return DashboardData(
            published_at=pd.Timestamp(meta["published_at"].iloc[0]).to_pydatetime() if len(meta) and
            pd.notna(meta["published_at"].iloc[0]) else None,
            latest_day=latest_day,
            kpi_monthly=_frame(con, t, ["marts.kpi_monthly"],
                               "select kpi_month, kpi, value, target, direction, gap, meets_target, "
                               "months_missed_in_a_row from marts.kpi_monthly order by kpi, kpi_month"),
            targets=_frame(con, t, ["reference.kpi_targets"], "select * from reference.kpi_targets"),
            channels=_frame(con, t, ["marts.kpi_channel_daily"], f"""
                select channel, sum(spend) as spend, sum(new_customers) as new_customers,
                       sum(revenue_last_touch) as revenue_last_touch,
                       cast(sum(spend) / nullif(sum(new_customers), 0) as double) as cac,
                       cast(sum(revenue_last_touch) / nullif(sum(spend), 0) as double) as roas
                from marts.kpi_channel_daily
                where kpi_date > (select max(kpi_date) from marts.kpi_channel_daily) - interval {CHANNEL_DAYS} day
                group by channel having sum(spend) > 0 order by channel"""),
            cohorts=_frame(con, t, ["marts.kpi_retention_cohorts"],
                           "select cohort_start, periods_since, cohort_size, active_customers, retention_rate "
                           "from marts.kpi_retention_cohorts where cohort_grain = 'month' "
                           "order by cohort_start, periods_since"),
            segment_sizes=_frame(con, t, ["marts.segment_daily"],
                                 "select lifecycle_stage, count(*) as customers from marts.segment_daily "
                                 "where segment_date = ? group by 1", [seg_day]),
            segment_trend=_frame(con, t, ["marts.segment_daily"], """
                select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily
                where (date_diff('day', segment_date, (select max(segment_date) from marts.segment_daily)) % 7) = 0
                group by 1, 2 order by 1, 2"""),
            segment_moves=_frame(con, t, ["marts.segment_daily"], f"""
                select previous_stage, lifecycle_stage, count(*) as moves from marts.segment_daily
                where changed and previous_stage is not null
                  and segment_date > (select max(segment_date) from marts.segment_daily) - interval {SEGMENT_MOVE_DAYS} day
                group by 1, 2 order by 1, 2"""),
            forecast=forecast,
            actual_units=_actual_units(con, t, forecast),
            alerts=_frame(con, t, ["ops.alerts"], "select alert_id, created_at, level, asset, check_name, partition, "
                                                  "message from ops.alerts order by created_at desc, alert_id desc"),
            ab_results=_frame(con, t, ["application.ab_test_results"],
                              "select * from application.ab_test_results order by experiment_id, variant")
            if "application.ab_test_results" in t else None,
        )


def _actual_units(con: duckdb.DuckDBPyConnection, t: set[str], forecast: pd.DataFrame | None) -> pd.DataFrame:
    """Units sold per day: per product from the inventory mart when it has rows, else the daily total."""
    if "marts.kpi_inventory_daily" in t and con.execute("select count(*) from marts.kpi_inventory_daily").fetchone()[0]:
        sql = "select kpi_date as day, sum(units_sold) as units from marts.kpi_inventory_daily group by 1 order by 1"
        if forecast is not None:  # the products the forecast covers
            sql = ("select kpi_date as day, sum(units_sold) as units from marts.kpi_inventory_daily "
                   "where product_id in (select product_id from application.demand_forecast) group by 1 order by 1")
        return con.execute(sql).df()
    return _frame(con, t, ["marts.kpi_daily"], "select kpi_date as day, units_sold as units from marts.kpi_daily "
                                               "order by 1")


# ------------------------------------------------------------------ formatting
def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI value for people: ratios as percentages, money with two decimals below 1,000."""
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "multiple":
        return f"{value:.2f}×"
    if unit == "currency":
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:,.0f}"


KPI_LABELS = {"aov": "AOV", "cac": "CAC", "roas": "ROAS", "nps": "NPS", "marketing_roi": "Marketing ROI",
              "month1_retention": "Month-1 retention"}


def kpi_label(kpi: str) -> str:
    return KPI_LABELS.get(kpi, kpi.replace("_", " ").capitalize())


def _num(value: float) -> str:
    """A number for an SVG attribute."""
    return f"{value:.1f}"


def _date(value) -> dt.date:
    return pd.Timestamp(value).date()


# ------------------------------------------------------------------ SVG charts
@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[dt.date]
    ys: Sequence[float | None]
    color: str
    css: str  # class of its points, e.g. "value" or "target"
    dashed: bool = False
    points: bool = True


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def _nice_range(values: Sequence[float], include_zero: bool = True) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    return (lo if include_zero and lo == 0 else lo - pad), hi + pad


def line_chart(chart_id: str, series: Sequence[Series], unit: str = "count", width: int = 420, height: int = 190,
               band: tuple[Sequence[dt.date], Sequence[float], Sequence[float]] | None = None,
               band_label: str = "") -> str:
    """Lines over dates, one <circle class="pt <css>"> per non-null point (with a tooltip)."""
    values = [float(y) for s in series for y in s.ys if y is not None and not pd.isna(y)]
    if band is not None:
        values += [float(v) for v in [*band[1], *band[2]] if v is not None and not pd.isna(v)]
    dates = sorted({d for s in series for d in s.xs} | (set(band[0]) if band else set()))
    if not values or not dates:
        return f'<p class="empty" id="{esc(chart_id)}">no data yet</p>'
    left, right, top, bottom = 58, 12, 12, 28
    lo, hi = _nice_range(values)
    y = _scale(lo, hi, height - bottom, top)
    d0, d1 = dates[0].toordinal(), dates[-1].toordinal()
    x = _scale(d0, d1 if d1 > d0 else d0 + 1, left, width - right)
    parts = [f'<svg id="{esc(chart_id)}" class="chart line-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{esc(chart_id)}">']
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(f'<line class="gridline" x1="{left}" x2="{width - right}" y1="{_num(y(v))}" y2="{_num(y(v))}"/>'
                     f'<text class="tick" x="{left - 6}" y="{_num(y(v) + 4)}" text-anchor="end">'
                     f'{esc(fmt_value(v, unit))}</text>')
    step = max(1, len(dates) // 5)
    for d in dates[::step]:
        parts.append(f'<text class="tick" x="{_num(x(d.toordinal()))}" y="{height - 8}" text-anchor="middle">'
                     f'{esc(d.strftime("%b %d" if len(dates) > 12 else "%b %Y"))}</text>')
    if band is not None:
        bx, blo, bhi = band
        upper = [f"{_num(x(d.toordinal()))},{_num(y(float(v)))}" for d, v in zip(bx, bhi)]
        lower = [f"{_num(x(d.toordinal()))},{_num(y(float(v)))}" for d, v in zip(bx, blo)]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower[::-1])}">'
                     f'<title>{esc(band_label)}</title></polygon>')
    for s in series:
        pts = [(d, float(v)) for d, v in zip(s.xs, s.ys) if v is not None and not pd.isna(v)]
        if not pts:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{_num(x(d.toordinal()))},{_num(y(v))}" for i, (d, v) in enumerate(pts))
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(f'<path class="line {esc(s.css)}" d="{path}" stroke="{s.color}" fill="none"{dash}/>')
        if s.points:
            parts += [f'<circle class="pt {esc(s.css)}" cx="{_num(x(d.toordinal()))}" cy="{_num(y(v))}" r="3" '
                      f'fill="{s.color}" data-value="{v!r}" data-tip="{esc(s.name)} {d.isoformat()}: '
                      f'{esc(fmt_value(v, unit))}"/>' for d, v in pts]
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(chart_id: str, labels: Sequence[str], values: Sequence[float | None], unit: str,
              target: float | None = None, colors: Sequence[str] | None = None, width: int = 420) -> str:
    """Horizontal bars, one <rect class="bar"> per label, with an optional dashed target line."""
    shown = [(lab, float(v)) for lab, v in zip(labels, values) if v is not None and not pd.isna(v)]
    if not shown:
        return f'<p class="empty" id="{esc(chart_id)}">no data yet</p>'
    row, left, right, top = 26, 110, 70, 8
    height = top * 2 + row * len(shown) + 14
    hi = max([v for _, v in shown] + ([target] if target is not None else []) + [0.0]) * 1.05 or 1.0
    x = _scale(0.0, hi, left, width - right)
    parts = [f'<svg id="{esc(chart_id)}" class="chart bar-chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{esc(chart_id)}">']
    for i, (label, v) in enumerate(shown):
        y0 = top + i * row
        color = colors[i % len(colors)] if colors else PALETTE[0]
        parts.append(f'<text class="label" x="{left - 6}" y="{y0 + 16}" text-anchor="end">{esc(label)}</text>'
                     f'<rect class="bar" x="{left}" y="{y0 + 4}" width="{_num(max(x(max(v, 0)) - left, 1))}" '
                     f'height="{row - 8}" fill="{color}" data-label="{esc(label)}" data-value="{v!r}" '
                     f'data-tip="{esc(label)}: {esc(fmt_value(v, unit))}"/>'
                     f'<text class="bar-value" x="{_num(x(max(v, 0)) + 4)}" y="{y0 + 16}">{esc(fmt_value(v, unit))}</text>')
    if target is not None:
        tx = _num(x(target))
        parts.append(f'<line class="target-line" x1="{tx}" x2="{tx}" y1="{top - 4}" y2="{height - 14}"/>'
                     f'<text class="tick" x="{tx}" y="{height - 3}" text-anchor="middle">target '
                     f'{esc(fmt_value(target, unit))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heat_color(rate: float) -> str:
    """White to deep blue by retention rate (0..1, capped)."""
    r = min(max(rate, 0.0), 1.0) ** 0.6
    lo, hi = (239, 246, 255), (30, 64, 175)
    return "#" + "".join(f"{round(a + (b - a) * r):02x}" for a, b in zip(lo, hi))


def heatmap(chart_id: str, cohorts: pd.DataFrame) -> str:
    """Cohort x months-since grid, one <rect class="cell"> per cohort period with its retention rate."""
    if cohorts.empty:
        return f'<p class="empty" id="{esc(chart_id)}">no cohorts yet</p>'
    starts = sorted({_date(c) for c in cohorts["cohort_start"]})
    periods = int(cohorts["periods_since"].max()) + 1
    cw, ch, left, top = 56, 26, 120, 24
    width, height = left + cw * periods + 10, top + ch * len(starts) + 10
    parts = [f'<svg id="{esc(chart_id)}" class="chart heatmap" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{esc(chart_id)}">']
    parts += [f'<text class="tick" x="{left + cw * p + cw / 2}" y="{top - 8}" text-anchor="middle">M{p}</text>'
              for p in range(periods)]
    sizes = cohorts.groupby(cohorts["cohort_start"].map(_date))["cohort_size"].max()
    for i, start in enumerate(starts):
        parts.append(f'<text class="label" x="{left - 6}" y="{top + ch * i + 17}" text-anchor="end">'
                     f'{start.strftime("%Y-%m")} (n={int(sizes.get(start, 0))})</text>')
    for r in cohorts.itertuples():
        i, p = starts.index(_date(r.cohort_start)), int(r.periods_since)
        rate = float(r.retention_rate) if pd.notna(r.retention_rate) else 0.0
        text_color = "#fff" if rate > 0.45 else "#1f2937"
        parts.append(f'<rect class="cell" x="{left + cw * p}" y="{top + ch * i}" width="{cw - 2}" height="{ch - 2}" '
                     f'fill="{_heat_color(rate)}" data-cohort="{_date(r.cohort_start).isoformat()}" data-period="{p}" '
                     f'data-value="{rate!r}" data-tip="cohort {_date(r.cohort_start):%Y-%m}, month {p}: '
                     f'{rate:.1%} ({int(r.active_customers)} of {int(r.cohort_size)})"/>'
                     f'<text class="cell-text" x="{left + cw * p + cw / 2 - 1}" y="{top + ch * i + 17}" '
                     f'text-anchor="middle" fill="{text_color}">{rate:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lift_plot(chart_id: str, rows: pd.DataFrame, width: int = 420) -> str:
    """Relative lift of each treatment with its 95% CI, around a zero line."""
    rows = rows.dropna(subset=["rel_lift", "rel_lift_ci_low", "rel_lift_ci_high"])
    if rows.empty:
        return f'<p class="empty" id="{esc(chart_id)}">no comparable experiment yet</p>'
    row, left, right, top = 30, 170, 20, 10
    height = top + row * len(rows) + 24
    lo = min(0.0, float(rows["rel_lift_ci_low"].min()))
    hi = max(0.0, float(rows["rel_lift_ci_high"].max()))
    pad = (hi - lo) * 0.08 or 0.05
    x = _scale(lo - pad, hi + pad, left, width - right)
    zero = _num(x(0.0))
    parts = [f'<svg id="{esc(chart_id)}" class="chart lift-plot" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{esc(chart_id)}">'
             f'<line class="zero" x1="{zero}" x2="{zero}" y1="{top - 4}" y2="{height - 18}"/>'
             f'<text class="tick" x="{zero}" y="{height - 5}" text-anchor="middle">0%</text>']
    for i, r in enumerate(rows.itertuples()):
        yc = top + row * i + row / 2
        color = {"ship": "#059669", "harm": "#dc2626"}.get(r.decision, "#4b5563")
        label = r.experiment_id if r.variant == "treatment" else f"{r.experiment_id} / {r.variant}"
        parts.append(f'<text class="label" x="{left - 8}" y="{_num(yc + 4)}" text-anchor="end">{esc(label)}</text>'
                     f'<line class="ci" x1="{_num(x(r.rel_lift_ci_low))}" x2="{_num(x(r.rel_lift_ci_high))}" '
                     f'y1="{_num(yc)}" y2="{_num(yc)}" stroke="{color}"/>'
                     f'<circle class="pt lift" cx="{_num(x(r.rel_lift))}" cy="{_num(yc)}" r="4" fill="{color}" '
                     f'data-experiment="{esc(r.experiment_id)}" data-value="{float(r.rel_lift)!r}" '
                     f'data-tip="{esc(label)}: {r.rel_lift:+.1%} [{r.rel_lift_ci_low:+.1%}, {r.rel_lift_ci_high:+.1%}]"/>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------ sections
def _units(data: DashboardData) -> dict[str, str]:
    if data.targets.empty:
        return {}
    # ROAS reads better as a multiple of spend (2.50×) than as a percentage.
    return dict(zip(data.targets["kpi"], data.targets["unit"])) | {"roas": "multiple"}


def _kpi_section(data: DashboardData) -> str:
    monthly, units = data.kpi_monthly, _units(data)
    if monthly.empty:
        return _section("kpis", "KPIs against targets", '<p class="empty">no KPI months yet</p>')
    latest_month = _date(monthly["kpi_month"].max())
    partial = data.latest_day is not None and (data.latest_day + dt.timedelta(days=1)).month == data.latest_day.month
    tiles = []
    current = monthly[monthly["kpi_month"].map(_date) == latest_month]
    order = {k: i for i, k in enumerate(TREND_KPIS)}
    for r in sorted(current.itertuples(), key=lambda r: (order.get(r.kpi, 99), r.kpi)):
        unit = units.get(r.kpi, "count")
        state = "unknown" if pd.isna(r.meets_target) else ("met" if bool(r.meets_target) else "missed")
        missed = int(r.months_missed_in_a_row) if pd.notna(r.months_missed_in_a_row) else 0
        note = f"{missed} months missed in a row" if missed >= 2 else ""
        value_attr = "" if pd.isna(r.value) else f' data-value="{float(r.value)!r}"'
        tiles.append(
            f'<div class="tile {state}" data-kpi="{esc(r.kpi)}"{value_attr}>'
            f'<div class="kpi-name">{esc(kpi_label(r.kpi))}</div>'
            f'<div class="kpi-value">{esc(fmt_value(r.value, unit))}</div>'
            f'<div class="kpi-target">target {esc(fmt_value(r.target, unit))} · {esc(state)}</div>'
            f'<div class="kpi-note">{esc(note)}</div></div>')
    charts = []
    for kpi in TREND_KPIS:
        rows = monthly[monthly["kpi"] == kpi].sort_values("kpi_month")
        if rows.empty:
            continue
        xs = [_date(m) for m in rows["kpi_month"]]
        unit = units.get(kpi, "count")
        chart = line_chart(f"trend-{kpi}", [
            Series("actual", xs, list(rows["value"]), PALETTE[0], "actual"),
            Series("target", xs, list(rows["target"]), "#9ca3af", "target", dashed=True),
        ], unit=unit)
        charts.append(f'<figure class="card"><figcaption>{esc(kpi_label(kpi))} by month '
                      f'<span class="legend"><i class="sw" style="background:{PALETTE[0]}"></i>actual '
                      f'<i class="sw dashed"></i>target</span></figcaption>{chart}</figure>')
    title = f"KPIs · {latest_month:%B %Y}" + (" (month to date)" if partial else "")
    return _section("kpis", title, f'<div class="tiles">{"".join(tiles)}</div><div class="grid">{"".join(charts)}</div>')


def _target(data: DashboardData, kpi: str) -> float | None:
    if data.targets.empty:
        return None
    hit = data.targets[data.targets["kpi"] == kpi]["target"]
    return float(hit.iloc[0]) if len(hit) else None


def _channel_section(data: DashboardData) -> str:
    c = data.channels
    if c.empty:
        return _section("channels", "Paid channels", '<p class="empty">no paid spend in the snapshot</p>')
    labels = list(c["channel"])
    roas = bar_chart("channel-roas", labels, list(c["roas"]), "multiple", _target(data, "roas"))
    cac = bar_chart("channel-cac", labels, list(c["cac"]), "currency", _target(data, "cac"), colors=[PALETTE[2]])
    rows = "".join(
        f'<tr data-channel="{esc(r.channel)}"><td>{esc(r.channel)}</td><td>{fmt_value(r.spend, "currency")}</td>'
        f'<td>{fmt_value(r.new_customers, "count")}</td><td>{fmt_value(r.cac, "currency")}</td>'
        f'<td>{fmt_value(r.revenue_last_touch, "currency")}</td><td>{fmt_value(r.roas, "multiple")}</td></tr>'
        for r in c.itertuples())
    table = ('<table class="data"><thead><tr><th>channel</th><th>spend</th><th>new customers</th><th>CAC</th>'
             f'<th>revenue (last touch)</th><th>ROAS</th></tr></thead><tbody>{rows}</tbody></table>')
    body = (f'<div class="grid"><figure class="card"><figcaption>ROAS (last-touch revenue / spend)</figcaption>'
            f'{roas}</figure><figure class="card"><figcaption>CAC (spend / new customers)</figcaption>{cac}</figure>'
            f'</div>{table}')
    return _section("channels", f"Paid channels · last {CHANNEL_DAYS} days", body)


def _cohort_section(data: DashboardData) -> str:
    return _section("retention", "Monthly cohort retention",
                    '<p class="hint">Share of each month\'s new customers who ordered again N months later.</p>'
                    f'<div class="scroll">{heatmap("retention-heatmap", data.cohorts)}</div>')


def _segment_section(data: DashboardData) -> str:
    sizes = data.segment_sizes
    if sizes.empty:
        return _section("segments", "Customer segments", '<p class="empty">no segments yet</p>')
    by_stage = dict(zip(sizes["lifecycle_stage"], sizes["customers"]))
    stages = [s for s in STAGES if s in by_stage] + sorted(set(by_stage) - set(STAGES))
    bars = bar_chart("segment-sizes", stages, [by_stage[s] for s in stages], "count",
                     colors=[STAGE_COLORS.get(s, PALETTE[-1]) for s in stages])
    trend = data.segment_trend
    series = []
    for i, stage in enumerate(stages):
        rows = trend[trend["lifecycle_stage"] == stage]
        series.append(Series(stage, [_date(d) for d in rows["segment_date"]], list(rows["customers"]),
                             STAGE_COLORS.get(stage, PALETTE[i % len(PALETTE)]), f"stage-{stage}", points=False))
    legend = "".join(f'<i class="sw" style="background:{s.color}"></i>{esc(s.name)} ' for s in series)
    moves = data.segment_moves
    matrix = ""
    if not moves.empty:
        cells = {(r.previous_stage, r.lifecycle_stage): int(r.moves) for r in moves.itertuples()}
        frm = [s for s in STAGES if any(k[0] == s for k in cells)] + sorted({k[0] for k in cells} - set(STAGES))
        to = [s for s in STAGES if any(k[1] == s for k in cells)] + sorted({k[1] for k in cells} - set(STAGES))
        head = "".join(f"<th>→ {esc(s)}</th>" for s in to)
        body = "".join(f"<tr><th>{esc(f)}</th>" + "".join(
            f'<td data-move="{esc(f)}>{esc(t)}">{cells.get((f, t), 0) or ""}</td>' for t in to) + "</tr>" for f in frm)
        matrix = (f'<figure class="card"><figcaption>Moves between stages · last {SEGMENT_MOVE_DAYS} days'
                  f'</figcaption><table class="data matrix"><thead><tr><th>from</th>{head}</tr></thead>'
                  f'<tbody>{body}</tbody></table></figure>')
    else:
        matrix = '<p class="empty">no moves between stages in the last days</p>'
    body = (f'<div class="grid"><figure class="card"><figcaption>Customers per lifecycle stage today</figcaption>'
            f'{bars}</figure><figure class="card"><figcaption>Stage sizes, weekly <span class="legend">{legend}'
            f'</span></figcaption>{line_chart("segment-trend", series)}</figure>{matrix}</div>')
    return _section("segments", "Customer segments", body)


def _forecast_section(data: DashboardData) -> str:
    f = data.forecast
    if f is None or f.empty:
        return _section("forecast", "Demand forecast", '<p class="empty" id="no-forecast">no forecast yet</p>')
    fx = [_date(d) for d in f["forecast_date"]]
    actual = data.actual_units
    if not actual.empty:
        last = pd.Timestamp(min(fx[0], _date(actual["day"].max()))) - pd.Timedelta(days=FORECAST_HISTORY_DAYS)
        actual = actual[pd.to_datetime(actual["day"]) > last]
    chart = line_chart("forecast-chart", [
        Series("actual units", [_date(d) for d in actual["day"]], list(actual["units"]), PALETTE[0], "actual"),
        Series("forecast (expected units)", fx, list(f["expected"]), PALETTE[2], "forecast", dashed=True),
    ], band=(fx, list(f["p10"]), list(f["p90"])), band_label="p10–p90 (summed over products)", width=860, height=240)
    info = f.iloc[-1]
    note = (f'{int(info["products"])} products · model {esc(info["model_version"])} ({esc(info["method"])}) · '
            f'generated {esc(pd.Timestamp(info["generated_at"]).strftime("%Y-%m-%d %H:%M"))}')
    return _section("forecast", "Demand forecast against actual units",
                    f'<p class="hint">{note}. Band: p10–p90 summed over products (not a joint interval).</p>'
                    f'<span class="legend"><i class="sw" style="background:{PALETTE[0]}"></i>actual '
                    f'<i class="sw" style="background:{PALETTE[2]}"></i>forecast (expected units) <i class="sw band-sw"></i>'
                    f'p10–p90</span>{chart}')


def _alert_section(data: DashboardData) -> str:
    a = data.alerts
    counts = {lvl: int((a["level"] == lvl).sum()) if len(a) else 0 for lvl in LEVELS}
    badges = "".join(f'<span class="badge {lvl}" data-level="{lvl}" data-count="{counts[lvl]}">{lvl} '
                     f'<b>{counts[lvl]}</b></span>' for lvl in LEVELS)
    if a.empty:
        return _section("alerts", "Alerts", f'<div class="badges">{badges}</div><p class="empty">no alerts</p>')
    rows = "".join(
        f'<tr class="alert {esc(r.level)}"><td><span class="dot {esc(r.level)}"></span>{esc(r.level)}</td>'
        f'<td>{esc(pd.Timestamp(r.created_at).strftime("%Y-%m-%d %H:%M") if pd.notna(r.created_at) else "")}</td>'
        f'<td>{esc(r.asset)}</td><td>{esc(r.check_name)}</td><td>{esc(r.partition)}</td><td>{esc(r.message)}</td></tr>'
        for r in a.head(RECENT_ALERTS).itertuples())
    table = ('<table class="data alerts"><thead><tr><th>level</th><th>time (UTC)</th><th>asset</th><th>check</th>'
             f'<th>period</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>')
    more = f'<p class="hint">Latest {RECENT_ALERTS} of {len(a)}.</p>' if len(a) > RECENT_ALERTS else ""
    return _section("alerts", "Alerts", f'<div class="badges">{badges}</div>{table}{more}')


def _ab_section(data: DashboardData) -> str:
    r = data.ab_results
    if r is None or r.empty:
        return _section("experiments", "A/B tests", '<p class="empty">no experiment results yet</p>')
    treat = r[~r["is_control"].astype(bool)]
    controls = r[r["is_control"].astype(bool)].set_index("experiment_id")
    rows = []
    for t in treat.itertuples():
        c = controls.loc[t.experiment_id] if t.experiment_id in controls.index else None
        ci = (f"{t.rel_lift:+.1%} [{t.rel_lift_ci_low:+.1%}, {t.rel_lift_ci_high:+.1%}]"
              if pd.notna(t.rel_lift_ci_low) else "–")
        rows.append(
            f'<tr data-experiment="{esc(t.experiment_id)}"><td>{esc(t.experiment_id)}</td><td>{esc(t.variant)}</td>'
            f'<td>{t.users:,} / {int(c["users"]) if c is not None else 0:,}</td>'
            f'<td>{t.conversion_rate:.1%} / {(c["conversion_rate"] if c is not None else math.nan):.1%}</td>'
            f'<td>{ci}</td><td>{_p(t.p_value_conversion)}</td>'
            f'<td>{t.revenue_per_user:.2f} / {(c["revenue_per_user"] if c is not None else math.nan):.2f}</td>'
            f'<td>{_p(t.p_value_revenue)}</td><td>{_p(t.srm_p_value)}</td>'
            f'<td><span class="decision {esc(t.decision)}">{esc(t.decision)}</span></td></tr>')
    table = ('<table class="data"><thead><tr><th>experiment</th><th>variant</th><th>users (t / c)</th>'
             '<th>conversion (t / c)</th><th>relative lift [95% CI]</th><th>p</th><th>revenue per user (t / c)</th>'
             f'<th>p (revenue)</th><th>SRM p</th><th>decision</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    window = r["conversion_window_hours"].dropna()
    hint = (f'Conversion: an order within {window.iloc[0]:g} hours of assignment. ' if len(window) else "")
    return _section("experiments", "A/B tests",
                    f'<p class="hint">{hint}Lift of treatment over control with its 95% confidence interval.</p>'
                    f'<figure class="card">{lift_plot("ab-lift", treat)}</figure>{table}')


def _p(p: float) -> str:
    return "–" if p is None or pd.isna(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


# ------------------------------------------------------------------ the page
STYLE = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2937;background:#f3f4f6}header{background:#111827;color:#f9fafb;padding:16px 28px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#9ca3af;font-size:12px}
nav{display:flex;gap:14px;padding:8px 28px;background:#1f2937;font-size:13px}nav a{color:#d1d5db;text-decoration:none}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;
box-shadow:0 1px 2px rgba(0,0,0,.06)}h2{font-size:16px;margin:0 0 10px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin-bottom:12px}
.tile{border:1px solid #e5e7eb;border-left:5px solid #9ca3af;border-radius:6px;padding:8px 10px}
.tile.met{border-left-color:#059669}.tile.missed{border-left-color:#dc2626}
.kpi-name{font-size:12px;color:#6b7280}.kpi-value{font-size:22px;font-weight:600}
.kpi-target,.kpi-note{font-size:11px;color:#6b7280}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
figure.card{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:8px}figcaption{font-size:12px;color:#374151;
margin-bottom:4px;text-transform:none}.legend{float:right;color:#6b7280}
.sw{display:inline-block;width:12px;height:3px;margin:0 4px 3px 8px;vertical-align:middle}
.sw.dashed{border-top:2px dashed #9ca3af;height:0}.band-sw{background:#fde68a;height:8px}
svg.chart{max-width:100%;height:auto;overflow:visible}svg .gridline{stroke:#eef0f3}svg path.line{fill:none}svg .tick,svg .label,svg .bar-value{
font-size:10px;fill:#6b7280}svg .label{fill:#374151}svg .line{stroke-width:2}svg .band{fill:#fde68a;opacity:.6}
svg .target-line,svg .zero{stroke:#9ca3af;stroke-dasharray:4 3}svg .ci{stroke-width:3}svg .cell-text{font-size:10px}
table.data{border-collapse:collapse;width:100%;margin-top:10px;font-size:12px}table.data th,table.data td{
border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left}table.data th{color:#6b7280;font-weight:500}
table.matrix td{text-align:right}.empty{color:#6b7280;font-style:italic}.hint{color:#6b7280;font-size:12px;margin:0 0 8px}
.badges{display:flex;gap:8px}.badge{padding:3px 10px;border-radius:12px;color:#fff;font-size:12px}
.badge.red,.dot.red{background:#dc2626}.badge.yellow,.dot.yellow{background:#ca8a04}.badge.blue,.dot.blue{background:#2563eb}
.dot{display:inline-block;width:8px;height:8px;border-radius:4px;margin-right:6px}
.decision{padding:2px 8px;border-radius:10px;background:#e5e7eb}.decision.ship{background:#d1fae5;color:#065f46}
.decision.harm,.decision.invalid_srm{background:#fee2e2;color:#991b1b}.scroll{overflow-x:auto}
#tip{position:fixed;pointer-events:none;background:#111827;color:#fff;padding:4px 8px;border-radius:4px;font-size:12px;
display:none;z-index:10}
"""

SCRIPT = """
(function () {
  var tip = document.getElementById("tip");
  document.addEventListener("mouseover", function (e) {
    var t = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!t) { tip.style.display = "none"; return; }
    tip.textContent = t.getAttribute("data-tip");
    tip.style.display = "block";
  });
  document.addEventListener("mousemove", function (e) {
    tip.style.left = (e.clientX + 12) + "px";
    tip.style.top = (e.clientY + 12) + "px";
  });
  document.documentElement.setAttribute("data-charts",
    String(document.querySelectorAll("svg.chart").length));
})();
"""


def render_html(data: DashboardData, generated_at: dt.datetime | None = None) -> str:
    """The whole page as one HTML string (inline CSS, SVG and JavaScript; no external resource)."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    published = data.published_at.strftime("%Y-%m-%d %H:%M UTC") if data.published_at else "unknown"
    through = data.latest_day.isoformat() if data.latest_day else "no data"
    sections = [_kpi_section(data), _channel_section(data), _cohort_section(data), _segment_section(data),
                _forecast_section(data), _alert_section(data), _ab_section(data)]
    nav = "".join(f'<a href="#{sid}">{label}</a>' for sid, label in [
        ("kpis", "KPIs"), ("channels", "Channels"), ("retention", "Retention"), ("segments", "Segments"),
        ("forecast", "Forecast"), ("alerts", "Alerts"), ("experiments", "A/B tests")])
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Operations KPI dashboard</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<header><h1>Operations KPI dashboard</h1><p>Data through {esc(through)} · snapshot published {esc(published)}'
        f' · page generated {esc(generated_at.strftime("%Y-%m-%d %H:%M UTC"))}</p></header>'
        f'<nav>{nav}</nav><main>{"".join(sections)}</main><div id="tip"></div>'
        f"<script>{SCRIPT}</script></body></html>\n")


def write_dashboard(snapshot: Path, out_dir: Path, generated_at: dt.datetime | None = None) -> tuple[Path, DashboardData]:
    """Render the page from the snapshot and replace ``<out_dir>/index.html`` atomically."""
    data = load_dashboard_data(snapshot)
    page = render_html(data, generated_at)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    tmp = out_dir / f".index.html.{uuid.uuid4().hex[:12]}.tmp"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, data
