"""The KPI dashboard: rendered from the platform's serving snapshot and opened in headless Chromium.

The browser is driven through the DevTools protocol (over `chromium --remote-debugging-pipe`):
the test reads the DOM after the page's script ran, collects console messages, uncaught exceptions
and every network request, and saves screenshots to test-artifacts/ (dashboard.png at 1400 px, and
dashboard-1440.png / dashboard-390.png from the layout test at a desktop and a phone width).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from core.application.dashboard import load_dashboard_data, render_html, write_dashboard
from core.application.dashboard.charts import nice_ticks
from tests.conftest import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


# ------------------------------------------------------------------ a small DevTools client
class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol.

    The protocol runs over `--remote-debugging-pipe` (JSON messages ending in NUL on the browser's
    file descriptors 3 and 4), so the test needs no websocket library and opens no port.
    """

    def __init__(self) -> None:
        if not Path(CHROMIUM).exists():
            pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does)")
        self.profile = Path(tempfile.mkdtemp(prefix="dashboard-chromium-"))
        args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        # The shell hands our stdin/stdout pipes to the browser as fds 3 (commands) and 4 (replies).
        self.process = subprocess.Popen(
            ["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null 2>/dev/null', CHROMIUM, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.buffer = b""
        self.events: list[dict] = []
        self.next_id = 0
        self.session: str | None = None
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _receive(self, timeout: float) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            chunk = os.read(self.process.stdout.fileno(), 1 << 20) if ready else b""
            if not chunk:
                raise TimeoutError("chromium sent nothing" if not ready else "chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            command["sessionId"] = self.session
        self.process.stdin.write(json.dumps(command).encode() + b"\0")
        self.process.stdin.flush()
        while True:
            message = self._receive(timeout=30)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive(timeout=max(0.1, deadline - time.monotonic())))

    def open(self, path: Path | str, width: int = 1400, height: int = 1000) -> None:
        """Load a file (a Path) or a URL (a str) and wait for its load event."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.events.clear()
        self.send("Page.navigate", url=path if isinstance(path, str) else path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and log errors seen so far."""
        self.send("Runtime.evaluate", expression="0")  # drain events that arrived meanwhile
        found = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p["type"] in {"error", "assert", "warning"}:
                found.append(
                    f"console.{p['type']}: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
                )
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                found.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"log: {p['entry']['text']}")
        return found

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, target: Path) -> None:
        metrics = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1},
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


# ------------------------------------------------------------------ the platform's dashboard
DOM_SUMMARY = """JSON.stringify({
  charts: Number(document.documentElement.getAttribute("data-charts")),
  svgs: document.querySelectorAll("svg.chart").length,
  trend: Object.fromEntries(["net_revenue", "orders", "aov", "active_users", "conversion_rate", "repurchase_rate"]
    .map(k => [k, {actual: document.querySelectorAll("#trend-" + k + " circle.pt.actual").length,
                   target: document.querySelectorAll("#trend-" + k + " circle.pt.target").length}])),
  tiles: Array.from(document.querySelectorAll(".tile")).map(t => ({kpi: t.dataset.kpi, value: t.dataset.value,
    text: t.querySelector(".kpi-value").textContent})),
  cells: Array.from(document.querySelectorAll("#retention-heatmap rect.cell")).map(c =>
    [c.dataset.cohort, Number(c.dataset.period), Number(c.dataset.value)]),
  roas: Array.from(document.querySelectorAll("#channel-roas rect.bar")).map(b => [b.dataset.label, Number(b.dataset.value)]),
  cac: Array.from(document.querySelectorAll("#channel-cac rect.bar")).map(b => [b.dataset.label, Number(b.dataset.value)]),
  segments: Array.from(document.querySelectorAll("#segment-sizes rect.bar")).map(b => [b.dataset.label, Number(b.dataset.value)]),
  segmentLines: document.querySelectorAll("#segment-trend path.line").length,
  forecastPoints: document.querySelectorAll("#forecast-chart circle.pt.forecast").length,
  noForecast: (document.getElementById("no-forecast") || {}).textContent || null,
  alertBadges: Object.fromEntries(Array.from(document.querySelectorAll(".badge")).map(b =>
    [b.dataset.level, Number(b.dataset.count)])),
  alertRows: document.querySelectorAll("table.alerts tbody tr").length,
  lifts: Array.from(document.querySelectorAll("#ab-lift circle.pt.lift")).map(c => [c.dataset.experiment, Number(c.dataset.value)]),
  width: document.documentElement.scrollWidth,
})"""


@pytest.fixture(scope="module")
def snapshot(platform) -> Path:
    path = platform.settings.serving_path
    assert path.exists(), "the daily job publishes the serving snapshot"
    return path


@pytest.fixture(scope="module")
def rendered(snapshot, browser, tmp_path_factory) -> dict:
    # Rendered afresh from the final snapshot (a later job may publish the snapshot again).
    page, _ = write_dashboard(snapshot, tmp_path_factory.mktemp("dashboard"))
    browser.open(page)
    summary = json.loads(browser.evaluate(DOM_SUMMARY))
    summary["problems"] = browser.problems()
    summary["requests"] = browser.requested_urls()
    summary["page"] = page
    browser.screenshot(ARTIFACTS / "dashboard.png")
    return summary


def _query(snapshot: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(sql).df()


def test_page_renders_without_console_errors_or_network(rendered):
    assert rendered["problems"] == []
    assert all(u.startswith(("file:", "data:")) for u in rendered["requests"]), rendered["requests"]
    assert rendered["charts"] == rendered["svgs"] >= 8, "the inline script ran and counted the charts"
    assert rendered["width"] <= 1400, "no horizontal overflow at a laptop width"
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 20_000


def test_kpi_trends_and_tiles_equal_the_snapshot(rendered, snapshot):
    monthly = _query(snapshot, "select kpi_month, kpi, value, target from marts.kpi_monthly")
    for kpi, points in rendered["trend"].items():
        rows = monthly[monthly["kpi"] == kpi]
        assert points == {"actual": int(rows["value"].notna().sum()), "target": int(rows["target"].notna().sum())}
        assert points["actual"] >= 6, "half a year of months"
    latest = monthly[monthly["kpi_month"] == monthly["kpi_month"].max()].set_index("kpi")
    tiles = {t["kpi"]: t for t in rendered["tiles"]}
    assert set(tiles) == set(latest.index)
    for kpi, row in latest.iterrows():
        assert float(tiles[kpi]["value"]) == pytest.approx(row["value"], rel=1e-12)
    assert tiles["orders"]["text"] == f"{int(latest.loc['orders', 'value']):,}"
    assert tiles["net_revenue"]["text"] == f"{latest.loc['net_revenue', 'value']:,.0f}"
    assert tiles["conversion_rate"]["text"] == f"{100 * latest.loc['conversion_rate', 'value']:.1f}%"


def test_channels_cohorts_and_segments_equal_the_snapshot(rendered, snapshot):
    channels = _query(
        snapshot,
        """
        select channel, sum(revenue_last_touch) / sum(spend) as roas, sum(spend) / nullif(sum(new_customers), 0) as cac
        from marts.kpi_channel_daily
        where kpi_date >= (select max(kpi_date) from marts.kpi_channel_daily) - 29
        group by 1 having sum(spend) > 0 order by 1""",
    )
    assert [c for c, _ in rendered["roas"]] == list(channels["channel"]) and len(channels) == 3
    assert [v for _, v in rendered["roas"]] == pytest.approx(list(channels["roas"].astype(float)), rel=1e-9)
    assert [v for _, v in rendered["cac"]] == pytest.approx(list(channels["cac"].astype(float)), rel=1e-9)

    cohorts = _query(
        snapshot,
        "select cohort_start, periods_since, retention_rate from marts.kpi_retention_cohorts "
        "where cohort_grain = 'month' order by 1, 2",
    )
    assert len(rendered["cells"]) == len(cohorts) >= 6 + 5
    got = sorted((c, p, v) for c, p, v in rendered["cells"])
    want = [
        (pd.Timestamp(r.cohort_start).date().isoformat(), int(r.periods_since), float(r.retention_rate))
        for r in cohorts.itertuples()
    ]
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], rel=1e-12)

    sizes = _query(
        snapshot,
        "select lifecycle_stage, count(*) as n from marts.segment_daily "
        "where segment_date = (select max(segment_date) from marts.segment_daily) group by 1",
    )
    assert dict(rendered["segments"]) == dict(zip(sizes["lifecycle_stage"], sizes["n"].astype(float)))
    assert rendered["segmentLines"] == len(sizes)


def test_forecast_alerts_and_experiments_equal_the_snapshot(rendered, snapshot):
    tables = set(_query(snapshot, "select table_schema || '.' || table_name as t from information_schema.tables")["t"])
    if "application.demand_forecast" in tables:
        dates = _query(snapshot, "select count(distinct forecast_date) as n from application.demand_forecast")
        assert rendered["forecastPoints"] == int(dates["n"].iloc[0]) > 0 and rendered["noForecast"] is None
    else:
        assert rendered["noForecast"] == "no forecast yet" and rendered["forecastPoints"] == 0

    # One row per check and partition, at its latest level; at most 30 per level.
    alerts = _query(snapshot, "select * from ops.alerts").sort_values("alert_id")
    latest = alerts.groupby(["asset", "check_name", "partition"], dropna=False).tail(1)
    expected = dict.fromkeys(("red", "yellow", "blue"), 0) | latest["level"].value_counts().to_dict()
    assert rendered["alertBadges"] == expected
    assert rendered["alertRows"] == sum(min(30, n) for n in expected.values())

    ab = _query(snapshot, "select experiment_id, rel_lift from application.ab_test_results where not is_control")
    lifts = dict(rendered["lifts"])
    assert sorted(lifts) == sorted(ab["experiment_id"]) and len(lifts) == 2
    assert [lifts[e] for e in ab["experiment_id"]] == pytest.approx(list(ab["rel_lift"]), rel=1e-12)


def test_asset_writes_the_page_and_names_it(platform):
    page = platform.settings.serving_dir / "dashboard" / "index.html"
    assert page.exists() and "Operations KPI dashboard" in page.read_text()
    event = platform.instance.get_latest_materialization_event(dg.AssetKey(["application", "kpi_dashboard"]))
    assert event is not None
    metadata = event.asset_materialization.metadata
    assert metadata["path"].value == str(platform.settings.serving_dir / "dashboard" / "index.html")
    assert "net_revenue" in metadata["preview"].value and metadata["bytes"].value > 10_000


# ------------------------------------------------------------------ renderer cases the platform does not show
def test_forecast_is_drawn_against_actual_units(snapshot, tmp_path, browser):
    copy = tmp_path / "serving.duckdb"
    shutil.copy(snapshot, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table if exists application.demand_forecast")
        con.execute("""
            create table application.demand_forecast as
            select product_id, cast(day as date) as forecast_date, 1.0 as p10, 2.0 as p50, 4.0 as p90,
                   'v7' as model_version, 'gradient_boosting' as method, timestamp '2026-04-01 02:00' as generated_at
            from (select distinct product_id from marts.kpi_inventory_daily),
                 range(date '2026-04-01', date '2026-04-15', interval 1 day) t(day)""")
        products = con.execute("select count(distinct product_id) from application.demand_forecast").fetchone()[0]
    page, data = write_dashboard(copy, tmp_path / "dashboard", generated_at=dt.datetime(2026, 4, 1))
    assert data.forecast is not None and list(data.forecast["p50"]) == [2.0 * products] * 14
    browser.open(page)
    assert browser.evaluate("document.querySelectorAll('#forecast-chart circle.pt.forecast').length") == 14
    assert browser.evaluate("document.querySelectorAll('#forecast-chart circle.pt.actual').length") > 20
    assert browser.evaluate("document.querySelectorAll('#forecast-chart polygon.band').length") == 1
    assert "v7" in browser.evaluate("document.getElementById('forecast').textContent")
    assert browser.problems() == []


def test_empty_snapshot_still_renders(tmp_path, browser):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    page, data = write_dashboard(empty, tmp_path / "dashboard")
    assert data.forecast is None and data.ab_results is None
    browser.open(page)
    assert browser.evaluate("document.getElementById('no-forecast').textContent") == "no forecast yet"
    assert browser.problems() == []


def test_the_console_check_can_fail(snapshot, tmp_path, browser):
    page = tmp_path / "broken.html"
    html = render_html(load_dashboard_data(snapshot))
    page.write_text(html.replace("</body>", "<script>console.error('broken chart'); undefinedCall();</script></body>"))
    browser.open(page)
    problems = browser.problems()
    assert any("broken chart" in p for p in problems) and any("undefinedCall" in p for p in problems)


def test_page_is_replaced_atomically(snapshot, tmp_path):
    out = tmp_path / "dashboard"
    first, _ = write_dashboard(snapshot, out, generated_at=dt.datetime(2026, 4, 1, 8, 0))
    inode = first.stat().st_ino
    second, _ = write_dashboard(snapshot, out, generated_at=dt.datetime(2026, 4, 2, 8, 0))
    assert second == first and second.stat().st_ino != inode, "a new file is swapped in, not rewritten in place"
    assert "2026-04-02 08:00" in second.read_text() and [p.name for p in out.iterdir()] == ["index.html"]


LAYOUT = """JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth,
  charts: Array.from(document.querySelectorAll("figure.card svg.line-chart, figure.card svg.bar-chart, "
      + "figure.card svg.lift-plot")).map(svg => {
    const card = svg.closest("figure.card"), style = getComputedStyle(card);
    const inner = card.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const box = svg.getBoundingClientRect(), cardBox = card.getBoundingClientRect();
    return {id: svg.id, width: box.width, inner: inner, inside: box.left >= cardBox.left - 1 && box.right <= cardBox.right + 1};
  }),
  yTicks: Object.fromEntries(Array.from(document.querySelectorAll("svg.line-chart")).map(svg =>
    [svg.id, Array.from(svg.querySelectorAll("text.tick[text-anchor=end]")).map(t => t.textContent)])),
})"""


def _tick_number(label: str) -> float:
    scale = {"k": 1e3, "M": 1e6}.get(label.rstrip("%×")[-1:], 1)
    return float(re.sub(r"[^0-9.\-]", "", label.replace("k", "").replace("M", ""))) * scale


@pytest.mark.parametrize("width", [1440, 390])
def test_layout_fills_the_cards_without_overflow_and_ticks_are_round(rendered, browser, width):
    browser.open(rendered["page"], width=width, height=900)
    layout = json.loads(browser.evaluate(LAYOUT))
    shot = ARTIFACTS / f"dashboard-{width}.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 20_000
    assert layout["scrollWidth"] <= width, "the page scrolls sideways"
    assert len(layout["charts"]) >= 10
    for chart in layout["charts"]:
        assert chart["inside"] and chart["width"] >= 0.98 * chart["inner"], chart
    for chart_id, labels in layout["yTicks"].items():
        values = [_tick_number(t) for t in labels]
        steps = {round(b - a, 9) for a, b in zip(values, values[1:])}
        assert len(values) >= 3 and len(steps) == 1, (chart_id, labels)
        step = steps.pop()
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in {1, 2, 2.5, 5}, (chart_id, labels)
        assert all(round(v / step, 6) == round(v / step) for v in values), (chart_id, labels)


def test_round_ticks_cover_the_range_in_at_most_six_steps():
    for lo, hi in [(0, 189_628), (0, 142_221), (0, 0.034), (-3, 17), (0, 2.7), (0, 0), (12.5, 12.5), (0, 1e-7)]:
        ticks = nice_ticks(lo, hi)
        step = ticks[1] - ticks[0]
        assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 6, (lo, hi, ticks)
        assert round(step / 10 ** math.floor(math.log10(step)), 6) in {1, 2, 2.5, 5}, (lo, hi, ticks)
    with pytest.raises(ValueError, match="cannot place ticks"):
        nice_ticks(0, math.inf)


def _tiles(browser) -> dict[str, dict]:
    return {
        t["kpi"]: t
        for t in json.loads(
            browser.evaluate(
                "JSON.stringify(Array.from(document.querySelectorAll('.tile')).map(t => ({kpi: t.dataset.kpi, "
                "level: t.dataset.level || null, cls: t.className, change: t.querySelector('.kpi-change').textContent, "
                "trend: t.querySelector('.kpi-change').dataset.trend, note: t.querySelector('.kpi-note').textContent})))"
            )
        )
    }


def test_tiles_take_their_alert_level_and_show_the_change_on_last_month(snapshot, tmp_path, browser):
    copy = tmp_path / "serving.duckdb"
    shutil.copy(snapshot, copy)
    monthly = _query(copy, "select kpi_month, kpi, value, direction from marts.kpi_monthly")
    units = dict(_query(copy, "select kpi, unit from reference.kpi_targets").itertuples(index=False))
    units["roas"] = "multiple"  # the page writes ROAS as a multiple of spend (2.50×), so it changes by a percentage
    months = sorted(monthly["kpi_month"].unique())
    latest, previous = pd.Timestamp(months[-1]), pd.Timestamp(months[-2])
    month, day = f"{latest:%Y-%m}", f"{latest:%Y-%m}-15"
    alerts = [
        ("yellow", "application/kpi_alerts", "kpi_below_target:cac", month, "cac missed, first"),
        ("yellow", "application/kpi_alerts", "kpi_below_target:cac", month, "cac missed, latest"),
        ("blue", "application/kpi_alerts", "kpi_minor_deviation:aov", month, "aov slightly below"),
        ("blue", "application/kpi_alerts", "kpi_minor_deviation:orders", f"{previous:%Y-%m}", "last month's"),
        ("red", "raw/orders", "expectations_red", day, "a source's check, not a KPI mart's"),
    ]
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from ops.alerts")
        for i, (level, asset, check, partition, message) in enumerate(alerts, start=1):
            con.execute(
                "insert into ops.alerts (alert_id, created_at, level, asset, check_name, partition, message) "
                "values (?, timestamp '2026-04-01 08:00' + ? * interval 1 minute, ?, ?, ?, ?, ?)",
                [i, i, level, asset, check, partition, message],
            )
    page, _ = write_dashboard(copy, tmp_path / "dashboard")
    browser.open(page)
    tiles = _tiles(browser)
    assert {k: t["level"] for k, t in tiles.items() if t["level"]} == {"cac": "yellow", "aov": "blue"}
    assert "level-yellow" in tiles["cac"]["cls"] and tiles["cac"]["note"] == "cac missed, latest"
    rows = json.loads(
        browser.evaluate(
            "JSON.stringify(Array.from(document.querySelectorAll('table.alerts tbody tr')).map(r => "
            "[r.closest('.alert-group').dataset.level, r.dataset.check, Number(r.dataset.raised)]))"
        )
    )
    assert sorted(rows) == sorted(
        [
            ["yellow", "kpi_below_target:cac", 2],
            ["blue", "kpi_minor_deviation:aov", 1],
            ["blue", "kpi_minor_deviation:orders", 1],
            ["red", "expectations_red", 1],
        ]
    )

    # month-over-month, computed here from the snapshot's kpi_monthly
    now = monthly[monthly["kpi_month"] == months[-1]].set_index("kpi")
    before = monthly[monthly["kpi_month"] == months[-2]].set_index("kpi")["value"]
    for kpi, row in now.iterrows():
        diff = row["value"] - before[kpi]
        if units.get(kpi) == "ratio":
            text = f"{abs(diff) * 100:.1f} pp"
        else:
            text = f"{abs(diff) / abs(before[kpi]):.1%}"
        arrow = "▲" if diff > 0 else "▼"
        good = (diff > 0) == (row["direction"] != "lower")
        assert tiles[kpi]["change"] == f"{arrow} {text} vs {previous:%b}", kpi
        assert tiles[kpi]["trend"] == ("good" if good else "bad"), kpi

    # a red alert on a KPI mart in the month puts every tile in red, also when a range run raised it
    from core.application.dashboard.page import _touches_month

    assert _touches_month(f"{previous:%Y-%m}-01...{day}", latest.date())
    assert not _touches_month(f"{previous:%Y-%m}-01...{previous:%Y-%m}-28", latest.date())
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into ops.alerts (alert_id, created_at, level, asset, check_name, partition, message) "
            "values (99, timestamp '2026-04-02', 'red', 'marts/kpi_daily', 'volume_anomaly', ?, 'orders collapsed')",
            [day],
        )
    page, _ = write_dashboard(copy, tmp_path / "dashboard")
    browser.open(page)
    assert {t["level"] for t in _tiles(browser).values()} == {"red"}


def test_money_is_written_in_the_configured_currency(snapshot):
    data = load_dashboard_data(snapshot)
    value = float(
        data.kpi_monthly[data.kpi_monthly["kpi_month"] == data.kpi_monthly["kpi_month"].max()]
        .set_index("kpi")
        .loc["net_revenue", "value"]
    )
    tile = re.compile(r'data-kpi="net_revenue"[^>]*>.*?<div class="kpi-value">([^<]*)</div>', re.S)
    assert tile.search(render_html(data)).group(1) == f"{value:,.0f}"
    assert tile.search(render_html(data, currency="¥")).group(1) == f"¥{value:,.0f}"
    assert tile.search(render_html(data, currency="CNY")).group(1) == f"{value:,.0f} CNY"
    assert "¥" not in render_html(data), "the setting does not leak into the next page"


def test_the_api_docs_render_offline_from_the_apis_own_files(snapshot, browser):
    """/docs is Swagger UI served by the API itself: in a browser with no internet it renders every
    endpoint, and every file it loads comes from the API's own origin (no CDN)."""
    from api.app import create_app
    from tests.test_api import running

    with running(create_app(snapshot / "serving.duckdb", {"k": frozenset({"*"})})) as url:
        browser.open(url + "/docs")
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline and not count:
            count = browser.evaluate("document.querySelectorAll('.opblock').length")
            time.sleep(0.2)
        spec_paths = len(json.loads(urllib.request.urlopen(url + "/openapi.json").read())["paths"])
        requested = browser.requested_urls()
        problems = browser.problems()
    assert count >= spec_paths > 5, (count, spec_paths)
    assert requested and all(u.startswith(url) or u.startswith("data:") for u in requested), requested
    assert problems == [], problems
