"""The dashboard's charts and number formatting: inline SVG drawn in Python (no script library)."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import pandas as pd

PALETTE = ("#2563eb", "#059669", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#4b5563")

# How money is written while a page is rendered (render_html sets it): "$" before amounts, "CNY" after.
CURRENCY: ContextVar[str] = ContextVar("dashboard_currency", default="")


def with_currency(amount: str) -> str:
    currency = CURRENCY.get()
    if not currency:
        return amount
    if currency.isalpha() and len(currency) > 1:  # a code: 1,234 CNY
        return f"{amount} {currency}"
    return f"-{currency}{amount[1:]}" if amount.startswith("-") else f"{currency}{amount}"


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
        return with_currency(f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}")
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _decimals(step: float) -> int:
    """The fewest decimals that write every multiple of `step` exactly (0.25 -> 2, 50 -> 0)."""
    for d in range(7):
        if abs(step * 10**d - round(step * 10**d)) < 1e-6:
            return d
    return 6


def fmt_tick(value: float, unit: str, step: float, biggest: float) -> str:
    """An axis label: as many decimals as the step needs, thousands as k and millions as M."""
    if unit == "ratio":
        return f"{value * 100:.{_decimals(step * 100)}f}%"
    if unit == "multiple":
        return f"{value:.{_decimals(step)}f}×"
    scale, suffix = (1e6, "M") if biggest >= 1e6 else (1e3, "k") if biggest >= 1e4 else (1.0, "")
    text = f"{value / scale:,.{_decimals(step / scale)}f}{suffix}"
    return with_currency(text) if unit == "currency" else text


KPI_LABELS = {
    "aov": "AOV",
    "cac": "CAC",
    "roas": "ROAS",
    "nps": "NPS",
    "marketing_roi": "Marketing ROI",
    "month1_retention": "Month-1 retention",
}


def kpi_label(kpi: str) -> str:
    return KPI_LABELS.get(kpi, kpi.replace("_", " ").capitalize())


def _num(value: float) -> str:
    """A number for an SVG attribute."""
    return f"{value:.1f}"


def as_date(value) -> dt.date:
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


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round axis ticks covering [lo, hi]: a step of 1, 2, 2.5 or 5 times a power of ten, at most `most`
    ticks (the rule spreadsheet and plotting libraries use; written here because the charts are drawn
    without one)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"cannot place ticks on [{lo}, {hi}]")
    if lo == hi:
        lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
    raw = (hi - lo) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * power
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first + 1 <= most:
            break
    # round() removes float noise (0.30000000000000004) so that labels and positions are the round values
    return [round(i * step, 12) for i in range(first, last + 1)]


def line_chart(
    chart_id: str,
    series: Sequence[Series],
    unit: str = "count",
    width: int = 640,
    height: int = 240,
    band: tuple[Sequence[dt.date], Sequence[float], Sequence[float]] | None = None,
    band_label: str = "",
) -> str:
    """Lines over dates, one <circle class="pt <css>"> per non-null point (with a tooltip)."""
    values = [float(y) for s in series for y in s.ys if y is not None and not pd.isna(y)]
    if band is not None:
        values += [float(v) for v in [*band[1], *band[2]] if v is not None and not pd.isna(v)]
    dates = sorted({d for s in series for d in s.xs} | (set(band[0]) if band else set()))
    if not values or not dates:
        return f'<p class="empty" id="{esc(chart_id)}">no data yet</p>'
    left, right, top, bottom = 64, 30, 12, 28
    ticks = nice_ticks(min(min(values), 0.0), max(max(values), 0.0))
    lo, hi = ticks[0], ticks[-1]
    step, biggest = ticks[1] - ticks[0], max(abs(lo), abs(hi))
    y = _scale(lo, hi, height - bottom, top)
    d0, d1 = dates[0].toordinal(), dates[-1].toordinal()
    x = _scale(d0, d1 if d1 > d0 else d0 + 1, left, width - right)
    parts = [
        f'<svg id="{esc(chart_id)}" class="chart line-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(chart_id)}">'
    ]
    for v in ticks:
        parts.append(
            f'<line class="gridline" x1="{left}" x2="{width - right}" y1="{_num(y(v))}" y2="{_num(y(v))}"/>'
            f'<text class="tick" x="{left - 6}" y="{_num(y(v) + 4)}" text-anchor="end">'
            f"{esc(fmt_tick(v, unit, step, biggest))}</text>"
        )
    every = max(1, len(dates) // 5)
    for d in dates[::every]:
        parts.append(
            f'<text class="tick" x="{_num(x(d.toordinal()))}" y="{height - 8}" text-anchor="middle">'
            f"{esc(d.strftime('%b %d' if len(dates) > 12 else '%b %Y'))}</text>"
        )
    if band is not None:
        bx, blo, bhi = band
        upper = [f"{_num(x(d.toordinal()))},{_num(y(float(v)))}" for d, v in zip(bx, bhi)]
        lower = [f"{_num(x(d.toordinal()))},{_num(y(float(v)))}" for d, v in zip(bx, blo)]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower[::-1])}"><title>{esc(band_label)}</title></polygon>'
        )
    for s in series:
        pts = [(d, float(v)) for d, v in zip(s.xs, s.ys) if v is not None and not pd.isna(v)]
        if not pts:
            continue
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{_num(x(d.toordinal()))},{_num(y(v))}" for i, (d, v) in enumerate(pts)
        )
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(f'<path class="line {esc(s.css)}" d="{path}" stroke="{s.color}" fill="none"{dash}/>')
        if s.points:
            parts += [
                f'<circle class="pt {esc(s.css)}" cx="{_num(x(d.toordinal()))}" cy="{_num(y(v))}" r="3" '
                f'fill="{s.color}" data-value="{v!r}" data-tip="{esc(s.name)} {d.isoformat()}: '
                f'{esc(fmt_value(v, unit))}"/>'
                for d, v in pts
            ]
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    chart_id: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    unit: str,
    target: float | None = None,
    colors: Sequence[str] | None = None,
    width: int = 640,
) -> str:
    """Horizontal bars, one <rect class="bar"> per label, with an optional dashed target line."""
    shown = [(lab, float(v)) for lab, v in zip(labels, values) if v is not None and not pd.isna(v)]
    if not shown:
        return f'<p class="empty" id="{esc(chart_id)}">no data yet</p>'
    row, left, right, top = 26, 110, 70, 8
    height = top * 2 + row * len(shown) + 14
    hi = max([v for _, v in shown] + ([target] if target is not None else []) + [0.0]) * 1.05 or 1.0
    x = _scale(0.0, hi, left, width - right)
    parts = [
        f'<svg id="{esc(chart_id)}" class="chart bar-chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(chart_id)}">'
    ]
    for i, (label, v) in enumerate(shown):
        y0 = top + i * row
        color = colors[i % len(colors)] if colors else PALETTE[0]
        parts.append(
            f'<text class="label" x="{left - 6}" y="{y0 + 16}" text-anchor="end">{esc(label)}</text>'
            f'<rect class="bar" x="{left}" y="{y0 + 4}" width="{_num(max(x(max(v, 0)) - left, 1))}" '
            f'height="{row - 8}" fill="{color}" data-label="{esc(label)}" data-value="{v!r}" '
            f'data-tip="{esc(label)}: {esc(fmt_value(v, unit))}"/>'
            f'<text class="bar-value" x="{_num(x(max(v, 0)) + 4)}" y="{y0 + 16}">{esc(fmt_value(v, unit))}</text>'
        )
    if target is not None:
        tx = _num(x(target))
        parts.append(
            f'<line class="target-line" x1="{tx}" x2="{tx}" y1="{top - 4}" y2="{height - 14}"/>'
            f'<text class="tick" x="{tx}" y="{height - 3}" text-anchor="middle">target '
            f"{esc(fmt_value(target, unit))}</text>"
        )
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
    starts = sorted({as_date(c) for c in cohorts["cohort_start"]})
    periods = int(cohorts["periods_since"].max()) + 1
    cw, ch, left, top = 56, 26, 120, 24
    width, height = left + cw * periods + 10, top + ch * len(starts) + 10
    parts = [
        f'<svg id="{esc(chart_id)}" class="chart heatmap" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(chart_id)}">'
    ]
    parts += [
        f'<text class="tick" x="{left + cw * p + cw / 2}" y="{top - 8}" text-anchor="middle">M{p}</text>'
        for p in range(periods)
    ]
    sizes = cohorts.groupby(cohorts["cohort_start"].map(as_date))["cohort_size"].max()
    for i, start in enumerate(starts):
        parts.append(
            f'<text class="label" x="{left - 6}" y="{top + ch * i + 17}" text-anchor="end">'
            f"{start.strftime('%Y-%m')} (n={int(sizes.get(start, 0))})</text>"
        )
    for r in cohorts.itertuples():
        i, p = starts.index(as_date(r.cohort_start)), int(r.periods_since)
        rate = float(r.retention_rate) if pd.notna(r.retention_rate) else 0.0
        text_color = "#fff" if rate > 0.45 else "#1f2937"
        parts.append(
            f'<rect class="cell" x="{left + cw * p}" y="{top + ch * i}" width="{cw - 2}" height="{ch - 2}" '
            f'fill="{_heat_color(rate)}" data-cohort="{as_date(r.cohort_start).isoformat()}" data-period="{p}" '
            f'data-value="{rate!r}" data-tip="cohort {as_date(r.cohort_start):%Y-%m}, month {p}: '
            f'{rate:.1%} ({int(r.active_customers)} of {int(r.cohort_size)})"/>'
            f'<text class="cell-text" x="{left + cw * p + cw / 2 - 1}" y="{top + ch * i + 17}" '
            f'text-anchor="middle" fill="{text_color}">{rate:.0%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lift_plot(chart_id: str, rows: pd.DataFrame, width: int = 640) -> str:
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
    parts = [
        f'<svg id="{esc(chart_id)}" class="chart lift-plot" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(chart_id)}">'
        f'<line class="zero" x1="{zero}" x2="{zero}" y1="{top - 4}" y2="{height - 18}"/>'
        f'<text class="tick" x="{zero}" y="{height - 5}" text-anchor="middle">0%</text>'
    ]
    for i, r in enumerate(rows.itertuples()):
        yc = top + row * i + row / 2
        color = {"ship": "#059669", "harm": "#dc2626"}.get(r.decision, "#4b5563")
        label = r.experiment_id if r.variant == "treatment" else f"{r.experiment_id} / {r.variant}"
        parts.append(
            f'<text class="label" x="{left - 8}" y="{_num(yc + 4)}" text-anchor="end">{esc(label)}</text>'
            f'<line class="ci" x1="{_num(x(r.rel_lift_ci_low))}" x2="{_num(x(r.rel_lift_ci_high))}" '
            f'y1="{_num(yc)}" y2="{_num(yc)}" stroke="{color}"/>'
            f'<circle class="pt lift" cx="{_num(x(r.rel_lift))}" cy="{_num(yc)}" r="4" fill="{color}" '
            f'data-experiment="{esc(r.experiment_id)}" data-value="{float(r.rel_lift)!r}" '
            f'data-tip="{esc(label)}: {r.rel_lift:+.1%} [{r.rel_lift_ci_low:+.1%}, {r.rel_lift_ci_high:+.1%}]"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
