"""The dashboard page: its sections, style and script, and writing it next to the snapshot."""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid
from pathlib import Path

import pandas as pd

from core.application.dashboard.charts import (
    CURRENCY,
    PALETTE,
    Series,
    as_date,
    bar_chart,
    esc,
    fmt_value,
    heatmap,
    kpi_label,
    lift_plot,
    line_chart,
)
from core.application.dashboard.data import CHANNEL_DAYS, SEGMENT_MOVE_DAYS, DashboardData, load_dashboard_data

TREND_KPIS = ("net_revenue", "orders", "aov", "active_users", "conversion_rate", "repurchase_rate")
STAGES = ("new", "active", "retained", "at_risk", "churned")
LEVELS = ("red", "yellow", "blue")
# Red alerts on these marts put every KPI tile of their month in red: the figures themselves are in doubt.
KPI_SOURCE_ASSETS = ("marts/kpi_daily", "marts/kpi_monthly")
LEVEL_MEANING = {"red": "act now", "yellow": "needs attention", "blue": "minor deviation"}
FORECAST_HISTORY_DAYS = 56
RECENT_ALERTS = 30
STAGE_COLORS = dict(zip(STAGES, ("#2563eb", "#059669", "#0891b2", "#d97706", "#6b7280")))


def _units(data: DashboardData) -> dict[str, str]:
    if data.targets.empty:
        return {}
    # ROAS reads better as a multiple of spend (2.50×) than as a percentage.
    return dict(zip(data.targets["kpi"], data.targets["unit"])) | {"roas": "multiple"}


def _touches_month(partition: object, month: dt.date) -> bool:
    """Whether an alert's partition (a day, a month `YYYY-MM`, or a range `first...last`) falls in `month`."""
    if not isinstance(partition, str) or not partition:
        return False
    first, _, last = partition.partition("...")
    last = last or first
    key = f"{month:%Y-%m}"
    return first[:7] <= key <= last[:7]


def tile_levels(data: DashboardData, month: dt.date) -> dict[str, tuple[str, str]]:
    """Each KPI's alert level for `month` and why, from the alerts raised (latest per check and partition).

    A monthly KPI alert names its KPI in its check (`kpi_below_target:cac`, yellow; `kpi_minor_deviation:aov`,
    blue); a red alert on a KPI mart in that month applies to every tile. The worst level wins."""
    a = data.alerts
    if a.empty:
        return {}
    in_month = a[a["partition"].map(lambda p: _touches_month(p, month)) & a["level"].isin(LEVELS)]
    red = in_month[(in_month["level"] == "red") & in_month["asset"].isin(KPI_SOURCE_ASSETS)].head(1)
    on_marts = [("red", f"{r.asset} {r.check_name} failed on {r.partition}") for r in red.itertuples()]
    subject = in_month["check_name"].fillna("").str.partition(":")[2]
    levels: dict[str, tuple[str, str]] = {}
    for kpi in data.kpi_monthly["kpi"].unique():
        own = [(r.level, str(r.message)) for r in in_month[subject == kpi].itertuples()]
        found = on_marts + own  # newest first within each, as the alerts are ordered
        if found:
            levels[kpi] = min(found, key=lambda f: LEVELS.index(f[0]))
    return levels


def _change(value: float, previous: float, unit: str, direction: str | None) -> tuple[str, str]:
    """Month-over-month change as text and whether it is good, bad or flat for the KPI's direction."""
    if pd.isna(value) or pd.isna(previous):
        return "", "flat"
    diff = float(value) - float(previous)
    if unit == "ratio":  # rates move in percentage points
        text = f"{diff * 100:+.1f} pp"
    elif float(previous) == 0:
        text = "new" if diff else "±0%"
    else:
        text = f"{diff / abs(float(previous)):+.1%}"
    if abs(diff) < 1e-12:
        return text.replace("+", "±"), "flat"
    better = diff > 0 if direction != "lower" else diff < 0
    return ("▲ " if diff > 0 else "▼ ") + text.lstrip("+-"), ("good" if better else "bad")


def _kpi_section(data: DashboardData) -> str:
    monthly, units = data.kpi_monthly, _units(data)
    if monthly.empty:
        return _section("kpis", "KPIs against targets", '<p class="empty">no KPI months yet</p>')
    latest_month = as_date(monthly["kpi_month"].max())
    partial = data.latest_day is not None and (data.latest_day + dt.timedelta(days=1)).month == data.latest_day.month
    tiles = []
    month_of = monthly["kpi_month"].map(as_date)
    months = sorted(set(month_of))
    previous_month = months[-2] if len(months) > 1 else None
    before = monthly[month_of == previous_month]
    previous = dict(zip(before["kpi"], before["value"]))
    levels = tile_levels(data, latest_month)
    current = monthly[month_of == latest_month]
    order = {k: i for i, k in enumerate(TREND_KPIS)}
    for r in sorted(current.itertuples(), key=lambda r: (order.get(r.kpi, 99), r.kpi)):
        unit = units.get(r.kpi, "count")
        state = "unknown" if pd.isna(r.meets_target) else ("met" if bool(r.meets_target) else "missed")
        level, why = levels.get(r.kpi, ("", ""))
        missed = int(r.months_missed_in_a_row) if pd.notna(r.months_missed_in_a_row) else 0
        note = why or (f"{missed} months missed in a row" if missed >= 2 else "")
        if previous_month is None:
            change, trend = "no earlier month", "flat"
        else:
            change, trend = _change(r.value, previous.get(r.kpi, math.nan), unit, r.direction)
            change = f"{change} vs {previous_month:%b}" if change else f"no value for {previous_month:%b}"
        value_attr = "" if pd.isna(r.value) else f' data-value="{float(r.value)!r}"'
        level_attr = f' data-level="{level}"' if level else ""
        tiles.append(
            f'<div class="tile {state}{" level-" + level if level else ""}" data-kpi="{esc(r.kpi)}"'
            f"{value_attr}{level_attr}>"
            f'<div class="kpi-name">{esc(kpi_label(r.kpi))}</div>'
            f'<div class="kpi-value">{esc(fmt_value(r.value, unit))}</div>'
            f'<div class="kpi-change {trend}" data-trend="{trend}">{esc(change)}</div>'
            f'<div class="kpi-target">target {esc(fmt_value(r.target, unit))} · {esc(state)}'
            f"{' · ' + esc(level) if level else ''}</div>"
            f'<div class="kpi-note">{esc(note)}</div></div>'
        )
    charts = []
    for kpi in TREND_KPIS:
        rows = monthly[monthly["kpi"] == kpi].sort_values("kpi_month")
        if rows.empty:
            continue
        xs = [as_date(m) for m in rows["kpi_month"]]
        unit = units.get(kpi, "count")
        chart = line_chart(
            f"trend-{kpi}",
            [
                Series("actual", xs, list(rows["value"]), PALETTE[0], "actual"),
                Series("target", xs, list(rows["target"]), "#9ca3af", "target", dashed=True),
            ],
            unit=unit,
        )
        charts.append(
            f'<figure class="card"><figcaption>{esc(kpi_label(kpi))} by month '
            f'<span class="legend"><i class="sw" style="background:{PALETTE[0]}"></i>actual '
            f'<i class="sw dashed"></i>target</span></figcaption>{chart}</figure>'
        )
    title = f"KPIs · {latest_month:%B %Y}" + (" (month to date)" if partial else "")
    return _section(
        "kpis", title, f'<div class="tiles">{"".join(tiles)}</div><div class="grid">{"".join(charts)}</div>'
    )


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
        f"<td>{fmt_value(r.new_customers, 'count')}</td><td>{fmt_value(r.cac, 'currency')}</td>"
        f"<td>{fmt_value(r.revenue_last_touch, 'currency')}</td><td>{fmt_value(r.roas, 'multiple')}</td></tr>"
        for r in c.itertuples()
    )
    table = (
        '<table class="data"><thead><tr><th>channel</th><th>spend</th><th>new customers</th><th>CAC</th>'
        f"<th>revenue (last touch)</th><th>ROAS</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    body = (
        f'<div class="grid"><figure class="card"><figcaption>ROAS (last-touch revenue / spend)</figcaption>'
        f'{roas}</figure><figure class="card"><figcaption>CAC (spend / new customers)</figcaption>{cac}</figure>'
        f"</div>{table}"
    )
    return _section("channels", f"Paid channels · last {CHANNEL_DAYS} days", body)


def _cohort_section(data: DashboardData) -> str:
    return _section(
        "retention",
        "Monthly cohort retention",
        '<p class="hint">Share of each month\'s new customers who ordered again N months later.</p>'
        f'<div class="scroll">{heatmap("retention-heatmap", data.cohorts)}</div>',
    )


def _segment_section(data: DashboardData) -> str:
    sizes = data.segment_sizes
    if sizes.empty:
        return _section("segments", "Customer segments", '<p class="empty">no segments yet</p>')
    by_stage = dict(zip(sizes["lifecycle_stage"], sizes["customers"]))
    stages = [s for s in STAGES if s in by_stage] + sorted(set(by_stage) - set(STAGES))
    bars = bar_chart(
        "segment-sizes",
        stages,
        [by_stage[s] for s in stages],
        "count",
        colors=[STAGE_COLORS.get(s, PALETTE[-1]) for s in stages],
    )
    trend = data.segment_trend
    series = []
    for i, stage in enumerate(stages):
        rows = trend[trend["lifecycle_stage"] == stage]
        series.append(
            Series(
                stage,
                [as_date(d) for d in rows["segment_date"]],
                list(rows["customers"]),
                STAGE_COLORS.get(stage, PALETTE[i % len(PALETTE)]),
                f"stage-{stage}",
                points=False,
            )
        )
    legend = "".join(f'<i class="sw" style="background:{s.color}"></i>{esc(s.name)} ' for s in series)
    moves = data.segment_moves
    matrix = ""
    if not moves.empty:
        cells = {(r.previous_stage, r.lifecycle_stage): int(r.moves) for r in moves.itertuples()}
        frm = [s for s in STAGES if any(k[0] == s for k in cells)] + sorted({k[0] for k in cells} - set(STAGES))
        to = [s for s in STAGES if any(k[1] == s for k in cells)] + sorted({k[1] for k in cells} - set(STAGES))
        head = "".join(f"<th>→ {esc(s)}</th>" for s in to)
        body = "".join(
            f"<tr><th>{esc(f)}</th>"
            + "".join(f'<td data-move="{esc(f)}>{esc(t)}">{cells.get((f, t), 0) or ""}</td>' for t in to)
            + "</tr>"
            for f in frm
        )
        matrix = (
            f'<figure class="card"><figcaption>Moves between stages · last {SEGMENT_MOVE_DAYS} days'
            f'</figcaption><table class="data matrix"><thead><tr><th>from</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></figure>"
        )
    else:
        matrix = '<p class="empty">no moves between stages in the last days</p>'
    body = (
        f'<div class="grid"><figure class="card"><figcaption>Customers per lifecycle stage today</figcaption>'
        f'{bars}</figure><figure class="card"><figcaption>Stage sizes, weekly <span class="legend">{legend}'
        f"</span></figcaption>{line_chart('segment-trend', series)}</figure>{matrix}</div>"
    )
    return _section("segments", "Customer segments", body)


def _forecast_section(data: DashboardData) -> str:
    f = data.forecast
    if f is None or f.empty:
        return _section("forecast", "Demand forecast", '<p class="empty" id="no-forecast">no forecast yet</p>')
    fx = [as_date(d) for d in f["forecast_date"]]
    actual = data.actual_units
    if not actual.empty:
        last = pd.Timestamp(min(fx[0], as_date(actual["day"].max()))) - pd.Timedelta(days=FORECAST_HISTORY_DAYS)
        actual = actual[pd.to_datetime(actual["day"]) > last]
    chart = line_chart(
        "forecast-chart",
        [
            Series("actual units", [as_date(d) for d in actual["day"]], list(actual["units"]), PALETTE[0], "actual"),
            Series("forecast (expected units)", fx, list(f["expected"]), PALETTE[2], "forecast", dashed=True),
        ],
        band=(fx, list(f["p10"]), list(f["p90"])),
        band_label="p10–p90 (summed over products)",
        width=1100,
        height=300,
    )
    info = f.iloc[-1]
    note = (
        f"{int(info['products'])} products · model {esc(info['model_version'])} ({esc(info['method'])}) · "
        f"generated {esc(pd.Timestamp(info['generated_at']).strftime('%Y-%m-%d %H:%M'))}"
    )
    return _section(
        "forecast",
        "Demand forecast against actual units",
        f'<p class="hint">{note}. Band: p10–p90 summed over products (not a joint interval).</p>'
        f'<span class="legend"><i class="sw" style="background:{PALETTE[0]}"></i>actual '
        f'<i class="sw" style="background:{PALETTE[2]}"></i>forecast (expected units) <i class="sw band-sw"></i>'
        f"p10–p90</span>{chart}",
    )


def _alert_section(data: DashboardData) -> str:
    """One row per check and partition (its latest alert and how often it was raised), grouped by level."""
    a = data.alerts
    counts = {lvl: int((a["level"] == lvl).sum()) if len(a) else 0 for lvl in LEVELS}
    badges = "".join(
        f'<a class="badge {lvl}" href="#alerts-{lvl}" data-level="{lvl}" data-count="{counts[lvl]}">'
        f"{lvl} <b>{counts[lvl]}</b></a>"
        for lvl in LEVELS
    )
    if a.empty:
        return _section("alerts", "Alerts", f'<div class="badges">{badges}</div><p class="empty">no alerts</p>')

    def when(t) -> str:
        return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M") if pd.notna(t) else ""

    groups = []
    for lvl in [*LEVELS, *sorted(set(a["level"]) - set(LEVELS))]:
        group = a[a["level"] == lvl]
        if group.empty:
            continue
        rows = "".join(
            f'<tr class="alert {esc(r.level)}" data-check="{esc(r.check_name)}" data-partition="{esc(r.partition)}" '
            f'data-raised="{int(r.raised)}"><td>{esc(when(r.created_at))}</td><td>{esc(r.asset)}</td>'
            f"<td>{esc(r.check_name)}</td><td>{esc(r.partition)}</td><td>{esc(r.message)}</td>"
            f"<td>{int(r.raised)}{' since ' + esc(when(r.first_raised_at)) if int(r.raised) > 1 else ''}</td></tr>"
            for r in group.head(RECENT_ALERTS).itertuples()
        )
        more = (
            f'<p class="hint">Latest {RECENT_ALERTS} of {len(group)} {lvl} checks.</p>'
            if len(group) > RECENT_ALERTS
            else ""
        )
        groups.append(
            f'<div class="alert-group" id="alerts-{esc(lvl)}" data-level="{esc(lvl)}">'
            f'<h3><span class="dot {esc(lvl)}"></span>{esc(lvl)} · {esc(LEVEL_MEANING.get(lvl, ""))}</h3>'
            '<table class="data alerts"><thead><tr><th>latest (UTC)</th><th>asset</th><th>check</th>'
            f"<th>period</th><th>message</th><th>raised</th></tr></thead><tbody>{rows}</tbody></table>{more}</div>"
        )
    hint = '<p class="hint">One row per check and period: its latest alert, and how many times it was raised.</p>'
    return _section("alerts", "Alerts", f'<div class="badges">{badges}</div>{hint}{"".join(groups)}')


def _ab_section(data: DashboardData) -> str:
    r = data.ab_results
    if r is None or r.empty:
        return _section("experiments", "A/B tests", '<p class="empty">no experiment results yet</p>')
    treat = r[~r["is_control"].astype(bool)]
    controls = r[r["is_control"].astype(bool)].set_index("experiment_id")
    rows = []
    for t in treat.itertuples():
        c = controls.loc[t.experiment_id] if t.experiment_id in controls.index else None
        ci = (
            f"{t.rel_lift:+.1%} [{t.rel_lift_ci_low:+.1%}, {t.rel_lift_ci_high:+.1%}]"
            if pd.notna(t.rel_lift_ci_low)
            else "–"
        )
        rows.append(
            f'<tr data-experiment="{esc(t.experiment_id)}"><td>{esc(t.experiment_id)}</td><td>{esc(t.variant)}</td>'
            f"<td>{t.users:,} / {int(c['users']) if c is not None else 0:,}</td>"
            f"<td>{t.conversion_rate:.1%} / {(c['conversion_rate'] if c is not None else math.nan):.1%}</td>"
            f"<td>{ci}</td><td>{_p(t.p_value_conversion)}</td>"
            f"<td>{t.revenue_per_user:.2f} / {(c['revenue_per_user'] if c is not None else math.nan):.2f}</td>"
            f"<td>{_p(t.p_value_revenue)}</td><td>{_p(t.srm_p_value)}</td>"
            f'<td><span class="decision {esc(t.decision)}">{esc(t.decision)}</span></td></tr>'
        )
    table = (
        '<table class="data"><thead><tr><th>experiment</th><th>variant</th><th>users (t / c)</th>'
        "<th>conversion (t / c)</th><th>relative lift [95% CI]</th><th>p</th><th>revenue per user (t / c)</th>"
        f"<th>p (revenue)</th><th>SRM p</th><th>decision</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    window = r["conversion_window_hours"].dropna()
    hint = f"Conversion: an order within {window.iloc[0]:g} hours of assignment. " if len(window) else ""
    return _section(
        "experiments",
        "A/B tests",
        f'<p class="hint">{hint}Lift of treatment over control with its 95% confidence interval.</p>'
        f'<div class="grid"><figure class="card"><figcaption>Relative lift in conversion, 95% CI</figcaption>'
        f"{lift_plot('ab-lift', treat)}</figure></div>{table}",
    )


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
box-shadow:0 1px 2px rgba(0,0,0,.06);overflow-x:auto}h2{font-size:16px;margin:0 0 10px}h3{font-size:13px;margin:12px 0 0}
nav{overflow-x:auto;white-space:nowrap}
@media (max-width:640px){main{padding:4px 8px 24px}header,nav{padding-left:10px;padding-right:10px}
section{padding:10px 10px}svg .tick,svg .label,svg .bar-value{font-size:17px}#forecast-chart .tick{font-size:30px}}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(170px,100%),1fr));gap:10px;margin-bottom:12px}
.tile{border:1px solid #e5e7eb;border-left:5px solid #9ca3af;border-radius:6px;padding:8px 10px}
.tile.met{border-left-color:#059669}.tile.missed{border-left-color:#6b7280}
.tile.level-red{border-left-color:#dc2626;background:#fef2f2}.tile.level-yellow{border-left-color:#ca8a04;
background:#fefce8}.tile.level-blue{border-left-color:#2563eb;background:#eff6ff}
.kpi-name{font-size:12px;color:#6b7280}.kpi-value{font-size:22px;font-weight:600}
.kpi-change{font-size:12px}.kpi-change.good{color:#047857}.kpi-change.bad{color:#b91c1c}.kpi-change.flat{color:#6b7280}
.kpi-target,.kpi-note{font-size:11px;color:#6b7280}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(440px,100%),1fr));gap:12px}
figure.card{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:8px}figcaption{font-size:12px;color:#374151;
margin-bottom:4px;text-transform:none}.legend{float:right;color:#6b7280}
.sw{display:inline-block;width:12px;height:3px;margin:0 4px 3px 8px;vertical-align:middle}
.sw.dashed{border-top:2px dashed #9ca3af;height:0}.band-sw{background:#fde68a;height:8px}
svg.chart{max-width:100%;height:auto;overflow:visible}svg.line-chart,svg.bar-chart,svg.lift-plot{width:100%;
display:block}svg .gridline{stroke:#eef0f3}svg path.line{fill:none}svg .tick,svg .label,svg .bar-value{
font-size:10px;fill:#6b7280}svg .label{fill:#374151}svg .line{stroke-width:2}svg .band{fill:#fde68a;opacity:.6}
svg .target-line,svg .zero{stroke:#9ca3af;stroke-dasharray:4 3}svg .ci{stroke-width:3}svg .cell-text{font-size:10px}
table.data{border-collapse:collapse;width:100%;margin-top:10px;font-size:12px}table.data th,table.data td{
border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left}table.data th{color:#6b7280;font-weight:500}
table.matrix td{text-align:right}.empty{color:#6b7280;font-style:italic}.hint{color:#6b7280;font-size:12px;margin:0 0 8px}
.badges{display:flex;gap:8px}.badge{padding:3px 10px;border-radius:12px;color:#fff;font-size:12px;
text-decoration:none}
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


def render_html(data: DashboardData, generated_at: dt.datetime | None = None, currency: str = "") -> str:
    """The whole page as one HTML string (inline CSS, SVG and JavaScript; no external resource).

    `currency` is how money is written: a symbol before amounts ("$", "¥") or a code after them ("CNY")."""
    token = CURRENCY.set(currency)
    try:
        return _page(data, generated_at or dt.datetime.now(dt.UTC))
    finally:
        CURRENCY.reset(token)


def _page(data: DashboardData, generated_at: dt.datetime) -> str:
    published = data.published_at.strftime("%Y-%m-%d %H:%M UTC") if data.published_at else "unknown"
    through = data.latest_day.isoformat() if data.latest_day else "no data"
    sections = [
        _kpi_section(data),
        _channel_section(data),
        _cohort_section(data),
        _segment_section(data),
        _forecast_section(data),
        _alert_section(data),
        _ab_section(data),
    ]
    nav = "".join(
        f'<a href="#{sid}">{label}</a>'
        for sid, label in [
            ("kpis", "KPIs"),
            ("channels", "Channels"),
            ("retention", "Retention"),
            ("segments", "Segments"),
            ("forecast", "Forecast"),
            ("alerts", "Alerts"),
            ("experiments", "A/B tests"),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Operations KPI dashboard</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<header><h1>Operations KPI dashboard</h1><p>Data through {esc(through)} · snapshot published {esc(published)}"
        f" · page generated {esc(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p></header>"
        f'<nav>{nav}</nav><main>{"".join(sections)}</main><div id="tip"></div>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_dashboard(
    snapshot: Path, out_dir: Path, generated_at: dt.datetime | None = None, currency: str = ""
) -> tuple[Path, DashboardData]:
    """Render the page from the snapshot and replace ``<out_dir>/index.html`` atomically."""
    data = load_dashboard_data(snapshot)
    page = render_html(data, generated_at, currency)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    tmp = out_dir / f".index.html.{uuid.uuid4().hex[:12]}.tmp"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, data
