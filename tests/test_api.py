"""The HTTP data API, served by a real uvicorn server and called over HTTP.

Answers are compared with the same question asked of the snapshot directly in DuckDB. The
snapshot is published from the platform fixture's marts; model outputs that the application
layer has not produced are added to the published copy (with their documented columns) so that
every endpoint has data to answer with.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import MAX_PAGE, create_app
from api.keys import KeyConfigError, load_key_file, mask, parse_keys
from core.service.snapshot import publish_snapshot

KEYS = parse_keys("kpis-key-0001:kpis;cust-key-0001:customers;dash-key-0001:dashboard;all-key-000001:*")
KPIS, CUSTOMERS, DASHBOARD, ALL = "kpis-key-0001", "cust-key-0001", "dash-key-0001", "all-key-000001"

# Every data endpoint and the scope it needs.
ENDPOINTS = [
    ("/v1/kpis/daily", "kpis"),
    ("/v1/kpis/monthly", "kpis"),
    ("/v1/kpis/channels", "kpis"),
    ("/v1/kpis/retention", "kpis"),
    ("/v1/segments/sizes", "customers"),
    ("/v1/segments/moves", "customers"),
    ("/v1/customers/{customer}", "customers"),
    ("/v1/forecasts/demand", "forecasts"),
    ("/v1/experiments", "experiments"),
    ("/v1/alerts", "alerts"),
    ("/dashboard", "dashboard"),
]


# --- the snapshot and the server ------------------------------------------------------------------


def _add_model_outputs(path: Path) -> None:
    """Model outputs in their documented columns, where the application layer has not written them."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists application")
    present = {
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'application'"
        ).fetchall()
    }
    if "churn_risk_scores" not in present:
        con.execute("""create table application.churn_risk_scores as
            select customer_id, round(0.01 * (row_number() over (order by customer_id) % 100) + 0.001 * g, 4)
                       as churn_probability,
                   1 + (row_number() over (order by customer_id) % 10)::integer as risk_decile,
                   'retention-v' || g as model_version,
                   timestamp '2026-03-01' + g * interval 7 day as scored_at
            from marts.user_profile, range(1, 3) as r(g)""")
    if "demand_forecast" not in present:
        con.execute("""create table application.demand_forecast as
            select product_id, date '2026-04-01' + d::integer as forecast_date,
                   10.0 + d + g as p10, 20.0 + d + g as p50, 30.0 + d + g as p90,
                   'demand-v' || g as model_version, 'gradient_boosting' as method,
                   timestamp '2026-03-31' + g * interval 1 day as generated_at
            from (select distinct product_id from marts.kpi_inventory_daily order by 1 limit 12),
                 range(0, 28) as days(d), range(1, 3) as gens(g)""")
    if "ab_test_results" not in present:
        con.execute("""create table application.ab_test_results as
            select * from (values
                ('exp_checkout_redesign', 'control', 'checkout_conversion', 1000, 0.120, null::double),
                ('exp_checkout_redesign', 'treatment', 'checkout_conversion', 1010, 0.144, 0.002),
                ('exp_banner_color', 'control', 'checkout_conversion', 990, 0.121, null::double),
                ('exp_banner_color', 'treatment', 'checkout_conversion', 1005, 0.119, 0.71))
                as t(experiment_id, variant, metric, users, rate, p_value)""")
    con.close()


@pytest.fixture(scope="module")
def published(platform, tmp_path_factory) -> dict:
    """A serving directory of its own (tests swap snapshots in it) and the source it was published from."""
    root = tmp_path_factory.mktemp("api")
    settings = platform.settings
    base = publish_snapshot(settings.warehouse_path, root / "base", settings.alerts_path)
    source = root / "source.duckdb"
    shutil.copyfile(base.path, source)
    _add_model_outputs(source)
    serving = root / "serving"
    publish_snapshot(source, serving, settings.alerts_path)
    return {"root": root, "source": source, "serving": serving, "alerts": settings.alerts_path}


@contextmanager
def running(app) -> Iterator[str]:
    """A real uvicorn server on a free port, in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, limit_concurrency=200))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the API server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="module")
def api(published) -> Iterator[httpx.Client]:
    with (
        running(create_app(published["serving"] / "serving.duckdb", KEYS)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def direct(published: dict, sql: str, params: list | None = None) -> list[dict]:
    """The same question asked of the served snapshot file directly (fresh database each time)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{published['serving'] / 'serving.duckdb'}' as s (read_only)")
        con.execute("use s")
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [{n: _plain(v) for n, v in zip(names, row)} for row in cur.fetchall()]
    finally:
        con.close()


def _plain(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v.isoformat() + "Z"  # served as UTC
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def get(api: httpx.Client, path: str, key: str | None = ALL, **params) -> httpx.Response:
    return api.get(path, params=params, headers={"X-API-Key": key} if key else {})


def all_pages(api: httpx.Client, path: str, page_size: int, key: str = ALL, **params) -> list[dict]:
    """Every row of a list endpoint, page by page; checks that pages are disjoint and add up to the total."""
    items, offset, total = [], 0, None
    while True:
        response = get(api, path, key, limit=page_size, offset=offset, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["items"]) <= page_size
        total = body["total"] if total is None else total
        assert body["total"] == total
        items += body["items"]
        if body["next_offset"] is None:
            break
        assert body["next_offset"] == offset + page_size and len(body["items"]) == page_size
        offset = body["next_offset"]
    assert len(items) == total
    return items


# --- every endpoint against the snapshot ------------------------------------------------------------


def test_daily_and_monthly_kpis_match_the_snapshot(api, published):
    start, end = "2025-12-01", "2026-02-28"
    got = all_pages(api, "/v1/kpis/daily", 25, start=start, end=end)
    want = direct(
        published, "select * from marts.kpi_daily where kpi_date between ? and ? order by kpi_date", [start, end]
    )
    assert len(want) >= 80 and got == want
    kpi = direct(published, "select kpi from marts.kpi_monthly order by kpi limit 1")[0]["kpi"]
    got = all_pages(api, "/v1/kpis/monthly", MAX_PAGE, key=KPIS, kpi=kpi, start="2025-11-01")
    want = direct(
        published,
        "select * from marts.kpi_monthly where kpi = ? and kpi_month >= date '2025-11-01' order by kpi_month",
        [kpi],
    )
    assert len(want) >= 4 and got == want


def test_channel_kpis_and_retention_cohorts_match_the_snapshot(api, published):
    channel = direct(
        published, "select channel from marts.kpi_channel_daily group by 1 order by count(*) desc limit 1"
    )[0]["channel"]
    got = all_pages(api, "/v1/kpis/channels", 40, channel=channel, start="2026-01-01", end="2026-03-31")
    want = direct(
        published,
        "select * from marts.kpi_channel_daily where channel = ? and kpi_date >= '2026-01-01' "
        "and kpi_date <= '2026-03-31' order by kpi_date",
        [channel],
    )
    assert len(want) > 30 and got == want
    got = all_pages(api, "/v1/kpis/retention", 50, grain="month")
    want = direct(
        published,
        "select * from marts.kpi_retention_cohorts where cohort_grain = 'month' order by cohort_start, periods_since",
    )
    assert len(want) > 5 and got == want


def test_segment_sizes_and_moves_match_the_snapshot(api, published):
    start, end = "2026-03-01", "2026-03-31"
    got = all_pages(api, "/v1/segments/sizes", 33, key=CUSTOMERS, start=start, end=end)
    want = direct(
        published,
        "select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily "
        "where segment_date between ? and ? group by segment_date, lifecycle_stage "
        "order by segment_date, lifecycle_stage",
        [start, end],
    )
    assert len(want) > 60 and got == want
    got = all_pages(api, "/v1/segments/moves", 17, start=start, end=end, to_stage="at_risk")
    want = direct(
        published,
        "select segment_date, previous_stage as from_stage, lifecycle_stage as to_stage, "
        "count(*) as customers from marts.segment_daily where changed and "
        "lifecycle_stage = 'at_risk' and segment_date between ? and ? "
        "group by 1, 2, 3 order by 1, 2, 3",
        [start, end],
    )
    assert len(want) > 5 and got == want


def test_customer_profile_with_the_latest_churn_score(api, published):
    customer = direct(
        published,
        "select s.customer_id from application.churn_risk_scores s join "
        "marts.user_profile p using (customer_id) order by p.net_revenue desc nulls last "
        "limit 1",
    )[0]["customer_id"]
    response = get(api, f"/v1/customers/{customer}", key=CUSTOMERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"] == direct(published, "select * from marts.user_profile where customer_id = ?", [customer])[0]
    latest = direct(
        published,
        "select * from application.churn_risk_scores where customer_id = ? "
        "and scored_at = (select max(scored_at) from application.churn_risk_scores "
        "where customer_id = ?)",
        [customer, customer],
    )
    assert body["churn_risk"] == latest[0] and body["churn_risk_source"] == "application.churn_risk_scores"
    assert {"lifecycle_stage", "rfm_segment", "r_score", "f_score", "m_score"} <= set(body["profile"])
    missing = get(api, "/v1/customers/NO-SUCH-CUSTOMER", key=CUSTOMERS)
    assert missing.status_code == 404 and "customer" in missing.json()["detail"]


def test_forecasts_experiments_and_alerts_match_the_snapshot(api, published):
    product = direct(published, "select min(product_id) as p from application.demand_forecast")[0]["p"]
    got = all_pages(api, "/v1/forecasts/demand", 10, product_id=product, start="2026-04-03", end="2026-04-20")
    want = direct(
        published,
        "select * from application.demand_forecast where product_id = ? and "
        "forecast_date between '2026-04-03' and '2026-04-20' and generated_at = "
        "(select max(generated_at) from application.demand_forecast where product_id = ?) "
        "order by forecast_date",
        [product, product],
    )
    assert len(want) >= 10 and got == want
    got = all_pages(api, "/v1/experiments", 3)
    want = direct(published, "select * from application.ab_test_results")
    assert len(want) >= 2 and sorted(map(repr, got)) == sorted(map(repr, want))
    experiment = want[0]["experiment_id"]
    one = all_pages(api, "/v1/experiments", 100, experiment_id=experiment)
    assert one and all(r["experiment_id"] == experiment for r in one)
    assert len(one) == sum(r["experiment_id"] == experiment for r in want)
    got = all_pages(api, "/v1/alerts", 7)
    want = direct(published, "select * from ops.alerts order by alert_id desc")
    assert got == want
    if want:
        level = want[0]["level"]
        assert all_pages(api, "/v1/alerts", 100, level=level) == [a for a in want if a["level"] == level]


def test_absent_model_outputs_answer_404_with_a_message(published, tmp_path):
    """A snapshot without application tables (a young deployment): 404s that say what is missing."""
    source = tmp_path / "marts_only.duckdb"
    shutil.copyfile(published["serving"] / "serving.duckdb", source)
    con = duckdb.connect(str(source))
    con.execute("drop schema application cascade")
    con.close()
    snap = publish_snapshot(source, tmp_path / "serving")
    with running(create_app(snap.path, KEYS)) as url, httpx.Client(base_url=url) as client:
        for path in ("/v1/forecasts/demand", "/v1/experiments"):
            response = get(client, path)
            assert response.status_code == 404 and "not in the serving snapshot" in response.json()["detail"]
        customer = direct(published, "select customer_id from marts.user_profile limit 1")[0]["customer_id"]
        body = get(client, f"/v1/customers/{customer}").json()
        assert body["churn_risk_source"] in (None, "marts.user_profile")
        assert get(client, "/v1/kpis/daily").status_code == 200
    # A model output with other columns than the endpoint reads: 503 with a message, not a crash.
    con = duckdb.connect(str(source))
    con.execute("create schema application")
    con.execute("create table application.demand_forecast as select 'P1' as sku, 1.0 as units")
    con.close()
    snap = publish_snapshot(source, tmp_path / "serving")
    with running(create_app(snap.path, KEYS)) as url, httpx.Client(base_url=url) as client:
        response = get(client, "/v1/forecasts/demand")
        assert response.status_code == 503 and "lacks" in response.json()["detail"]


def test_health_and_openapi_need_no_key(api, published):
    health = api.get("/health")
    assert health.status_code == 200
    meta = direct(published, "select published_at from meta.snapshot")[0]
    published_at = dt.datetime.fromisoformat(health.json()["published_at"])
    assert published_at == dt.datetime.fromisoformat(meta["published_at"]).replace(tzinfo=dt.UTC)
    assert 0 <= health.json()["age_seconds"] < 3600
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    paths = set(spec.json()["paths"])
    assert {p.replace("{customer}", "{customer_id}") for p, _ in ENDPOINTS} | {"/health"} <= paths
    assert api.get("/docs").status_code == 200


def test_dashboard_is_served_when_it_exists(api, published):
    page = published["serving"] / "dashboard" / "index.html"
    assert get(api, "/dashboard", key=DASHBOARD).status_code == 404
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("<html><body><h1>KPI dashboard</h1></body></html>")
    try:
        response = get(api, "/dashboard", key=DASHBOARD)
        assert response.status_code == 200 and "KPI dashboard" in response.text
        anonymous = api.get("/dashboard")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
        basic = base64.b64encode(f"viewer:{DASHBOARD}".encode()).decode()
        assert api.get("/dashboard", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    finally:
        page.unlink()


# --- keys, validation, pagination ---------------------------------------------------------------------


def test_python_m_api_serves_with_keys_from_a_yaml_file_and_never_logs_them(published, tmp_path):
    secret, limited = "yaml-secret-key-0001", "yaml-kpis-key-0002"
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"keys:\n  {secret}: ['*']\n  {limited}: [kpis]\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DMP_API_SNAPSHOT": str(published["serving"] / "serving.duckdb"),
        "DMP_API_KEYS_FILE": str(keys_file),
        "DMP_API_HOST": "127.0.0.1",
        "DMP_API_PORT": str(port),
    }
    log = tmp_path / "api.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.time() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.2)
        assert httpx.get(url + "/v1/alerts", headers={"X-API-Key": secret}).status_code == 200
        assert httpx.get(url + "/v1/alerts", headers={"X-API-Key": limited}).status_code == 403
        assert httpx.get(url + "/v1/kpis/daily", headers={"X-API-Key": limited}).status_code == 200
        assert httpx.get(url + "/v1/kpis/daily", headers={"X-API-Key": secret[:-1] + "X"}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert "401" in text and "rejected unknown API key" in text, "the log shows what happened"
    assert secret not in text and limited not in text and secret[:-1] not in text, "but never a key"


def test_key_configuration_is_parsed_and_checked(tmp_path):
    assert parse_keys(" key-one-123:kpis, customers ; key-two-456:* ;") == {
        "key-one-123": frozenset({"kpis", "customers"}),
        "key-two-456": frozenset({"*"}),
    }
    listed = tmp_path / "keys.yaml"
    listed.write_text("keys:\n  - {key: list-key-0001, scopes: [alerts]}\n")
    assert load_key_file(listed) == {"list-key-0001": frozenset({"alerts"})}
    for bad, message in [
        ("short:kpis", "shorter than 8"),
        ("long-enough-key:kpis,sales", "unknown scopes"),
        ("long-enough-key", "no ':<scopes>'"),
    ]:
        with pytest.raises(KeyConfigError, match=message) as failure:
            parse_keys(bad)
        assert "long-enough-key" not in str(failure.value), "errors mask the key too"
    assert mask("abcdefghijkl") == "ab…(12 chars)"


@pytest.mark.parametrize("path,scope", ENDPOINTS)
def test_every_data_endpoint_needs_a_key_with_its_scope(api, published, path, scope):
    customer = direct(published, "select min(customer_id) as c from marts.user_profile")[0]["c"]
    path = path.format(customer=customer)
    assert get(api, path, key=None).status_code == 401
    assert get(api, path, key="not-a-valid-key").status_code == 401
    wrong = KPIS if scope != "kpis" else CUSTOMERS
    denied = get(api, path, key=wrong)
    assert denied.status_code == 403 and scope in denied.json()["detail"]
    allowed = {"kpis": KPIS, "customers": CUSTOMERS, "dashboard": DASHBOARD}.get(scope, ALL)
    assert get(api, path, key=allowed).status_code in (200, 404 if path == "/dashboard" else 200)
    bearer = api.get(path, headers={"Authorization": f"Bearer {ALL}"})
    assert bearer.status_code in (200, 404 if path == "/dashboard" else 200)


@pytest.mark.parametrize(
    "path,params,parameter",
    [
        ("/v1/kpis/daily", {"limit": MAX_PAGE + 1}, "limit"),
        ("/v1/kpis/daily", {"limit": 0}, "limit"),
        ("/v1/kpis/daily", {"offset": -1}, "offset"),
        ("/v1/kpis/daily", {"start": "2026-13-01"}, "start"),
        ("/v1/kpis/daily", {"start": "2026-03-01", "end": "2026-02-01"}, "start"),
        ("/v1/kpis/monthly", {"end": "yesterday"}, "end"),
        ("/v1/kpis/retention", {"grain": "year"}, "grain"),
        ("/v1/kpis/channels", {"channel": "x" * 500}, "channel"),
        ("/v1/segments/sizes", {"limit": "ten"}, "limit"),
        ("/v1/alerts", {"level": "purple"}, "level"),
        ("/v1/alerts", {"since": "not-a-time"}, "since"),
        ("/v1/forecasts/demand", {"start": "2026-04-09", "end": "2026-04-01"}, "start"),
    ],
)
def test_invalid_parameters_answer_422_naming_the_parameter(api, path, params, parameter):
    response = get(api, path, **params)
    assert response.status_code == 422, response.text
    assert f"'{parameter}'" in response.json()["detail"]


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"])
def test_alerts_since_at_the_ends_of_time_answer_200(api, published, since):
    """An offset that moves `since` past year 1 or 9999 is clamped, not an overflow (a 500)."""
    answer = get(api, "/v1/alerts", since=since)
    assert answer.status_code == 200, answer.text
    with duckdb.connect(str(published["serving"] / "serving.duckdb"), read_only=True) as con:
        everything = con.execute("select count(*) from ops.alerts").fetchone()[0]
    assert answer.json()["total"] == (0 if since.startswith("9999") else everything)


def test_page_size_is_capped_and_pages_are_disjoint_and_complete(api, published):
    want = direct(published, "select * from marts.kpi_channel_daily order by kpi_date, channel")
    assert len(want) > MAX_PAGE, "the test needs a list longer than one page"
    first = get(api, "/v1/kpis/channels", limit=MAX_PAGE).json()
    assert first["count"] == MAX_PAGE and first["total"] == len(want) and first["next_offset"] == MAX_PAGE
    pages = [all_pages(api, "/v1/kpis/channels", size) for size in (MAX_PAGE, 211)]
    keys = [(r["kpi_date"], r["channel"]) for r in pages[1]]
    assert len(set(keys)) == len(keys), "no row on two pages"
    assert pages[0] == pages[1] == want
    beyond = get(api, "/v1/kpis/channels", offset=len(want) + 5).json()
    assert beyond["items"] == [] and beyond["next_offset"] is None


# --- hostile input -------------------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.sampled_from(
        [
            "' or '1'='1",
            "' or 1=1 --",
            "'; drop table marts.kpi_daily; --",
            '" or ""="',
            "1) or (1=1",
            "x' union select * from ops.alerts --",
            "%",
            "_",
            "*",
            "\\",
            "''",
            "' ; attach '/etc/passwd' as p; --",
            "$1",
            "?",
            "null",
            "NULL",
            "0x00",
            "\u0000",
            "Robert'); DROP TABLE students;--",
            "🙂' or '🙂'='🙂",
            "paid_search' or channel <> '",
            "2026-01-01' or '1'='1",
            "../../etc/passwd",
            "%27%20or%201%3D1",
        ]
    ),
    st.text(min_size=1, max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=3000),
    st.builds(lambda a, b: a + "'" + b, st.text(max_size=10), st.text(max_size=10)),
)

# (path, text parameter, the field every returned row must equal it in)
TEXT_PARAMETERS = [
    ("/v1/kpis/monthly", "kpi", "kpi"),
    ("/v1/kpis/channels", "channel", "channel"),
    ("/v1/segments/sizes", "stage", "lifecycle_stage"),
    ("/v1/segments/moves", "from_stage", "from_stage"),
    ("/v1/segments/moves", "to_stage", "to_stage"),
    ("/v1/forecasts/demand", "product_id", "product_id"),
    ("/v1/experiments", "experiment_id", "experiment_id"),
    ("/v1/alerts", "asset", "asset"),
]
LEGIT = {
    "start": lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)),
    "end": lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)),
    "limit": lambda v: v.strip().isdigit() and 1 <= int(v) <= MAX_PAGE,
    "offset": lambda v: v.strip().isdigit(),
    "grain": lambda v: v in ("month", "week"),
    "level": lambda v: v in ("red", "yellow", "blue"),
    "since": lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-][\d:]+)?", v)),
}
OTHER_PARAMETERS = [
    ("/v1/kpis/daily", "start"),
    ("/v1/kpis/daily", "end"),
    ("/v1/kpis/daily", "limit"),
    ("/v1/kpis/daily", "offset"),
    ("/v1/kpis/retention", "grain"),
    ("/v1/alerts", "level"),
    ("/v1/alerts", "since"),
]


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE, case=st.sampled_from(TEXT_PARAMETERS))
def test_hostile_text_never_errors_or_returns_rows_outside_the_request(api, value, case):
    path, parameter, field = case
    response = get(api, path, **{parameter: value})
    assert response.status_code in (200, 422), (value, response.status_code, response.text[:300])
    if response.status_code == 200:
        assert all(row[field] == value for row in response.json()["items"]), value
    else:
        assert f"'{parameter}'" in response.json()["detail"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE, case=st.sampled_from(OTHER_PARAMETERS))
def test_hostile_values_of_typed_parameters_are_rejected_by_name(api, value, case):
    path, parameter = case
    response = get(api, path, **{parameter: value})
    if response.status_code == 200:  # only a value that really is one of the parameter's kind
        assert LEGIT[parameter](value), (parameter, value)
    else:
        assert response.status_code == 422 and f"'{parameter}'" in response.json()["detail"], value


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE)
def test_hostile_customer_ids_find_no_customer(api, value):
    response = api.get("/v1/customers/" + urllib.parse.quote(value, safe=""), headers={"X-API-Key": ALL})
    assert response.status_code in (404, 422), (value, response.status_code, response.text[:300])


def test_the_snapshot_is_intact_after_the_hostile_requests(api, published):
    body = get(api, "/v1/kpis/daily", limit=MAX_PAGE).json()
    assert body["total"] == direct(published, "select count(*) as n from marts.kpi_daily")[0]["n"] > 150


# --- a publish under load --------------------------------------------------------------------------------


def test_a_snapshot_swap_under_32_concurrent_requests_fails_none_and_shows_the_new_data(api, published):
    """Must run last in this module: it publishes a changed snapshot into the served directory."""
    day = "2026-02-02"
    before = direct(published, "select net_revenue from marts.kpi_daily where kpi_date = ?", [day])[0]["net_revenue"]
    before_health = api.get("/health").json()
    changed = published["root"] / "changed.duckdb"
    shutil.copyfile(published["source"], changed)
    con = duckdb.connect(str(changed))
    con.execute("update marts.kpi_daily set net_revenue = net_revenue + 1000")
    con.close()

    stop, statuses, seen, lock = threading.Event(), [], set(), threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=str(api.base_url), timeout=30, headers={"X-API-Key": KPIS}) as client:
            while not stop.is_set():
                try:
                    response = client.get("/v1/kpis/daily", params={"start": day, "end": day})
                    value = (
                        round(response.json()["items"][0]["net_revenue"], 2) if response.status_code == 200 else None
                    )
                except Exception as exc:  # a dropped connection is a failure too
                    response, value = None, repr(exc)
                with lock:
                    statuses.append(response.status_code if response is not None else value)
                    seen.add(value)

    workers = [threading.Thread(target=client_loop) for _ in range(32)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    publish_snapshot(changed, published["serving"], published["alerts"])
    time.sleep(1.5)
    stop.set()
    for w in workers:
        w.join(30)
    failed = [s for s in statuses if s != 200]
    assert len(statuses) > 64 and failed == [], failed[:5]
    assert seen == {round(before, 2), round(before + 1000, 2)}, "the old snapshot before the swap, the new after"
    after = get(api, "/v1/kpis/daily", start=day, end=day).json()["items"][0]["net_revenue"]
    assert (
        after
        == direct(published, "select net_revenue from marts.kpi_daily where kpi_date = ?", [day])[0]["net_revenue"]
    )
    assert round(after, 2) == round(before + 1000, 2)
    health = api.get("/health").json()
    assert health["published_at"] > before_health["published_at"]
    assert health["snapshot_reopened"] > before_health["snapshot_reopened"]
