"""Quality gates: suites, platform checks, blocking, alerts and their delivery by webhook."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import dagster as dg
import pandas as pd
import pytest

from core.alerts.delivery import post_json
from core.alerts.kpi_rules import kpi_alerts
from core.alerts.store import list_alerts, record_alert
from core.quality import (
    QualityConfigError,
    freshness,
    load_alerting_config,
    load_suite,
    load_suites,
    quarantine_rate,
    schema_drift,
    volume_anomaly,
)
from core.settings import PROJECT_ROOT, Settings
from orchestration.cli import failure_report
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.partitions import range_tags
from orchestration.resources import build_resources
from simulator import DefectRates, SimulationConfig, simulate

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 16)
CONFIG = load_alerting_config(PROJECT_ROOT / "expectations" / "alerting.yaml")


# ------------------------------------------------------------------ pure checks
def test_every_suite_loads_and_names_its_asset():
    suites = load_suites(PROJECT_ROOT / "expectations" / "suites")
    sources = [
        "orders",
        "users",
        "events",
        "marketing_spend",
        "products",
        "inventory",
        "nps_surveys",
        "support_tickets",
        "experiments",
    ]
    assert {f"raw/{s}" for s in sources} | {"marts/kpi_daily", "marts/user_profile"} <= set(suites)
    for suite in suites.values():
        assert any((e.get("meta") or {}).get("level") == "red" for e in suite.expectations), suite.name


def test_a_suite_with_an_unknown_level_is_rejected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "name": "bad",
                "meta": {"asset": "raw/x"},
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "a"},
                        "meta": {"level": "purple"},
                    }
                ],
            }
        )
    )
    with pytest.raises(QualityConfigError, match=r"expectations\[0\].meta.level 'purple'"):
        load_suite(path)


def test_quarantine_rate_levels():
    assert quarantine_rate(1000, 10, CONFIG).passed
    assert quarantine_rate(1000, 50, CONFIG).level == "yellow"
    assert quarantine_rate(1000, 150, CONFIG).level == "red"
    assert quarantine_rate(6, 3, CONFIG).level == "yellow", "a tiny file cannot raise a red alert"


def test_schema_drift_cases():
    expected = {"id": True, "amount": True, "note": False}
    assert schema_drift(["id", "amount", "note"], expected, {}, CONFIG).passed
    new = schema_drift(["id", "amount", "note", "coupon"], expected, {}, CONFIG)
    assert (new.passed, new.level, new.metrics["new_columns"]) == (False, "yellow", ["coupon"])
    missing = schema_drift(["id", "amount"], expected, {}, CONFIG)
    assert (missing.level, missing.metrics["missing_optional_columns"]) == ("yellow", ["note"])
    assert "['note'] vanished from the export and load as empty" in missing.message
    retyped = schema_drift(["id", "amount", "note"], expected, {"amount": 0.97}, CONFIG)
    assert (retyped.level, retyped.metrics["retyped_columns"]) == ("red", ["amount"])


def test_freshness_cases():
    assert freshness(dt.date(2026, 3, 30), dt.date(2026, 3, 31), CONFIG).passed
    stale = freshness(dt.date(2026, 3, 20), dt.date(2026, 3, 31), CONFIG)
    assert (stale.passed, stale.level, stale.metrics["lag_days"]) == (False, "yellow", 11)
    assert not freshness(None, dt.date(2026, 3, 31), CONFIG).passed


def test_volume_anomaly_cases():
    history = pd.Series([100, 96, 104, 99, 101, 103, 97, 100, 102, 98] * 3, dtype=float)
    assert volume_anomaly(history, 101, CONFIG, "orders").passed
    drop = volume_anomaly(history, 45, CONFIG, "orders")
    assert (drop.passed, drop.level) == (False, "red"), "a silent drop of half the orders is red"
    spike = volume_anomaly(history, 130, CONFIG, "orders")
    assert (spike.passed, spike.level) == (False, "yellow")
    assert volume_anomaly(history.head(3), 10, CONFIG, "orders").passed, "too little history is not judged"
    small = volume_anomaly(history / 25, 1, CONFIG, "orders")
    assert (small.passed, small.level) == (False, "yellow"), "1 order vs a median of 4 is noise, not an outage"


def test_kpi_alerts_yellow_blue_and_complaint_spike():
    monthly = pd.DataFrame(
        [
            {
                "kpi_month": pd.Timestamp("2026-03-01"),
                "kpi": "roas",
                "value": 2.0,
                "target": 2.5,
                "gap": -0.5,
                "meets_target": False,
                "months_missed_in_a_row": 3,
            },
            {
                "kpi_month": pd.Timestamp("2026-03-01"),
                "kpi": "aov",
                "value": 43.0,
                "target": 45.0,
                "gap": -2.0,
                "meets_target": False,
                "months_missed_in_a_row": 1,
            },
            {
                "kpi_month": pd.Timestamp("2026-03-01"),
                "kpi": "orders",
                "value": 900.0,
                "target": 1500.0,
                "gap": -600.0,
                "meets_target": False,
                "months_missed_in_a_row": 2,
            },
            {
                "kpi_month": pd.Timestamp("2026-02-01"),
                "kpi": "nps",
                "value": 10.0,
                "target": 30.0,
                "gap": -20.0,
                "meets_target": False,
                "months_missed_in_a_row": 5,
            },
        ]
    )
    # As read from the warehouse: a nullable boolean column (one month's target unknown).
    monthly = pd.concat(
        [
            monthly,
            pd.DataFrame(
                [
                    {
                        "kpi_month": pd.Timestamp("2026-03-01"),
                        "kpi": "nps",
                        "value": None,
                        "target": 30.0,
                        "gap": None,
                        "meets_target": None,
                        "months_missed_in_a_row": 0,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    monthly["meets_target"] = monthly["meets_target"].astype("boolean")
    days = pd.date_range("2026-03-01", periods=29)
    tickets = pd.Series([4] * 28 + [20], index=days)
    alerts = {(a.level, a.check, a.message.split(" ")[0]) for a in kpi_alerts(monthly, tickets, CONFIG)}
    assert ("yellow", "kpi_below_target:roas", "roas") in alerts
    assert ("blue", "kpi_minor_deviation:aov", "aov") in alerts
    assert ("yellow", "complaint_spike", "20") in alerts
    assert len(alerts) == 3, "a 2-month miss is neither, and only the latest month is judged"


# ------------------------------------------------------------------ webhook delivery
class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    fail_first: int = 0

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def receiver():
    _Receiver.received = []
    _Receiver.fail_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


def test_post_json_retries_then_delivers(receiver):
    _Receiver.fail_first = 2
    ok, detail = post_json(receiver, {"level": "red"}, timeout=2, retries=3, backoff=0.01)
    assert ok and detail.startswith("HTTP 204") and _Receiver.received == [{"level": "red"}]
    ok, detail = post_json("http://127.0.0.1:9/none", {"x": 1}, timeout=0.5, retries=1, backoff=0.01)
    assert not ok


def _sensor(settings: Settings, name: str):
    return next(s for s in build_definitions(settings).sensors if s.name == name)


def _sensor_context(settings: Settings, **kwargs) -> dg.SensorEvaluationContext:
    """A sensor context with the resources the definitions give the sensor (as the daemon does)."""
    return dg.build_sensor_context(resources=build_resources(settings), **kwargs)


def test_webhook_sensor_sends_each_alert_once_with_a_cursor(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("DMP_ALERT_WEBHOOK_URL", receiver)
    settings = Settings(data_dir=tmp_path)
    record_alert(settings.alerts_path, "red", "first", asset="raw/orders", check_name="x")
    record_alert(settings.alerts_path, "yellow", "second")
    sensor = _sensor(settings, "alert_webhook")
    with dg.DagsterInstance.ephemeral() as instance:
        context = _sensor_context(settings, instance=instance, cursor=None)
        sensor(context)
        assert [a["message"] for a in _Receiver.received] == ["first", "second"]
        assert context.cursor == "2"
        sensor(_sensor_context(settings, instance=instance, cursor=context.cursor))
        assert len(_Receiver.received) == 2, "nothing is sent twice"
        record_alert(settings.alerts_path, "blue", "third")
        sensor(_sensor_context(settings, instance=instance, cursor=context.cursor))
        assert [a["message"] for a in _Receiver.received] == ["first", "second", "third"]


def test_webhook_sensor_keeps_undelivered_alerts_for_the_next_tick(tmp_path, monkeypatch):
    monkeypatch.setenv("DMP_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/closed")
    settings = Settings(data_dir=tmp_path)
    record_alert(settings.alerts_path, "red", "lost?")
    context = _sensor_context(settings, cursor=None)
    _sensor(settings, "alert_webhook")(context)
    assert (context.cursor or "0") == "0", "an alert that was not delivered is retried later"


# ------------------------------------------------------------------ gates in real runs
@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    simulate(
        SimulationConfig(start=START, end=END, seed=13, scale=0.6, defects=DefectRates()),
        root / "landing",
        root / "truth",
    )
    settings = Settings(
        data_dir=root / "data", landing_dir=root / "landing", partitions_start=START, demo_start=START, demo_end=END
    )
    instance = dg.DagsterInstance.ephemeral()
    first = _run(settings, instance, START, dt.date(2026, 1, 12))
    assert first.success
    return settings, instance, first


def _run(settings: Settings, instance, start: dt.date, end: dt.date):
    job = build_definitions(settings).resolve_job_def(PLATFORM_JOB)
    return job.execute_in_process(instance=instance, tags=range_tags(start, end), raise_on_error=False)


def _run_with_edited_orders(settings: Settings, instance, day: dt.date, edit):
    """Run one day with its orders export rewritten by `edit(lines) -> lines`, then restore the file."""
    path = settings.landing_dir / "orders" / f"{day}.csv"
    original = path.read_text()
    path.write_text("\n".join(edit(original.splitlines())) + "\n")
    try:
        return _run(settings, instance, day, day)
    finally:
        path.write_text(original)


def _checks(result) -> dict[tuple[str, str], bool]:
    return {
        (
            e.event_specific_data.asset_key.to_user_string(),
            e.event_specific_data.check_name,
        ): e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def test_every_suite_runs_as_checks_in_a_platform_run(platform):
    _, _, result = platform
    checks = _checks(result)
    suites = load_suites(PROJECT_ROOT / "expectations" / "suites")
    for asset in suites:
        assert (asset, "expectations_red") in checks, asset
        assert checks[(asset, "expectations_red")], f"{asset}: red expectations fail on clean data"
    assert checks[("lake/orders", "quarantine_rate")] is not None
    assert ("raw/orders", "volume_anomaly") in checks and ("marts/kpi_daily", "volume_anomaly") in checks
    assert {"marts/kpi_daily", "marts/user_profile", "application/kpi_alerts"} <= _materialized(result)


def test_red_check_blocks_downstream_and_alerts_reach_the_webhook(platform, tmp_path, receiver, monkeypatch):
    settings, instance, _ = platform
    day = dt.date(2026, 1, 13)

    def lose_customer_ids(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        customer = header.index("customer_id")
        rows = []
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) == len(header):
                fields[customer] = ""  # the export lost its customer ids: every order looks like a guest
            rows.append(",".join(fields))
        return [lines[0], *rows]

    before = len(list_alerts(settings.alerts_path))
    result = _run_with_edited_orders(settings, instance, day, lose_customer_ids)
    assert not result.success
    assert _checks(result)[("raw/orders", "expectations_red")] is False
    done = _materialized(result)
    assert not any(k.startswith("marts/") or k.startswith("intermediate/") for k in done), (
        "no mart is built from blocked data"
    )
    new = list_alerts(settings.alerts_path)[before:]
    red = [a for a in new if a.level == "red" and a.asset == "raw/orders" and a.check_name == "expectations_red"]
    assert red and "customer_id" in red[0].message and red[0].partition == str(day)

    # The failed run itself is an outage: the run-failure sensor raises a red alert for it.
    failure = result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=build_resources(settings),
    ).for_run_failure()
    _sensor(settings, "run_failure_alerts")(context)
    outage = list_alerts(settings.alerts_path)[-1]
    assert (outage.level, outage.check_name, outage.run_id, outage.partition) == (
        "red",
        "run_failure",
        result.run_id,
        str(day),  # a one-day range run is named by its day
    )

    webhook = settings.model_copy(update={"alert_webhook_url": receiver})
    _sensor(webhook, "alert_webhook")(_sensor_context(webhook, instance=instance, cursor=str(before)))
    assert any(a["level"] == "red" and a["check_name"] == "expectations_red" for a in _Receiver.received)
    assert any(a["check_name"] == "run_failure" for a in _Receiver.received)


def test_a_silent_drop_of_half_the_orders_is_red(platform):
    settings, instance, _ = platform
    day = dt.date(2026, 1, 14)
    result = _run_with_edited_orders(settings, instance, day, lambda lines: lines[: 1 + (len(lines) - 1) // 3])
    assert not result.success
    assert _checks(result)[("raw/orders", "volume_anomaly")] is False
    report = failure_report(result)
    assert any(
        line.startswith("blocking check failed: ") and f" volume_anomaly for {day}: " in line for line in report
    ), "the CLI names the check, the day and the reason"


def test_a_yellow_failure_does_not_block(platform):
    settings, instance, _ = platform
    day = dt.date(2026, 1, 15)
    # A new column at the end of every line: schema drift, yellow.
    result = _run_with_edited_orders(
        settings, instance, day, lambda lines: [lines[0] + ",gift_wrap", *[line + ",no" for line in lines[1:]]]
    )
    assert result.success
    assert _checks(result)[("lake/orders", "schema_drift")] is False
    assert "marts/kpi_daily" in _materialized(result)
    drift = [a for a in list_alerts(settings.alerts_path) if a.check_name == "schema_drift"]
    assert drift and drift[-1].level == "yellow" and "gift_wrap" in drift[-1].message


def test_quarantine_is_weighed_by_value_too():
    # 3 of 10,000 rows (0.03%) is nothing by count, but they hold 4.5% of the day's value.
    outcome = quarantine_rate(10_000, 3, CONFIG, value_read=100_000.0, value_quarantined=4_500.0)
    assert outcome.level == "yellow" and "holding 4.50% of the value" in outcome.message
    assert quarantine_rate(10_000, 3, CONFIG, value_read=100_000.0, value_quarantined=20_000.0).level == "red"
    assert quarantine_rate(10_000, 3, CONFIG, value_read=100_000.0, value_quarantined=10.0).passed
