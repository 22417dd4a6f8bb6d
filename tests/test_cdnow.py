"""A real public purchase log, ingested through a mapping alone, checked against pandas.

The CDNOW log (tests/data/cdnow/README.md) was written by nobody here: one blank-separated file
for 18 months, a line total instead of a unit price, no line id, no product, no status. The
first quarter of 1997 goes through collection, storage and every dbt model; each KPI the data
supports is computed independently from the original file with pandas and compared.
"""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import duckdb
import pandas as pd
import pytest

from core.quality.config import load_alerting_config
from core.quality.rules import worst_day_volume
from core.settings import PROJECT_ROOT, Settings
from tests.test_materialize import _run

pytestmark = pytest.mark.slow

CDNOW = PROJECT_ROOT / "tests" / "data" / "cdnow"
START, END = dt.date(1997, 1, 1), dt.date(1997, 3, 31)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("cdnow") / "data",
        landing_dir=CDNOW / "landing",
        mappings_dir=CDNOW / "mappings",
        alerting_config=CDNOW / "alerting.yaml",
        partitions_start=START,
        demo_start=START,
        demo_end=END,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _run(settings, START, END, instance, groups=("collection", "storage", "processing"))
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    with gzip.open(CDNOW / "landing" / "orders" / "CDNOW_master.txt.gz", "rt") as fh:
        log = pd.read_csv(fh, sep=r"\s+", dtype=str)
    log["record"] = range(1, len(log) + 1)
    log["day"] = pd.to_datetime(log["date"], format="%Y%m%d")
    log["amount"] = log["dollar_value"].map(Decimal)
    log["cds"] = log["number_of_cds"].astype(int)
    quarter = log[(log["day"] >= pd.Timestamp(START)) & (log["day"] <= pd.Timestamp(END))]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        yield settings, log, quarter, con


def test_every_line_of_the_quarter_is_loaded_once_with_its_exact_amount(cdnow):
    settings, log, quarter, con = cdnow
    raw = con.execute(
        "select _record_number, customer_id, cast(recorded_at as date), quantity, line_amount, unit_price "
        "from raw.orders order by _record_number"
    ).df()
    quarantined = duckdb.sql(
        f"select count(*) from read_parquet('{settings.lake_dir}/quarantine/orders/*/*.parquet')"
    ).fetchall()
    assert len(raw) == len(quarter) and quarantined == [(0,)]
    assert raw["_record_number"].tolist() == quarter["record"].tolist(), "record numbers are the file's lines"
    assert raw["customer_id"].tolist() == quarter["customer_id"].tolist(), "ids keep their leading zeros"
    assert [Decimal(str(v)) for v in raw["line_amount"]] == quarter["amount"].tolist(), "amounts are exact"
    assert raw["quantity"].tolist() == quarter["cds"].tolist()
    assert raw["unit_price"].isna().all(), "no unit price is invented from the line total"
    days = pd.to_datetime(raw.iloc[:, 2])
    assert (days.dt.date.to_numpy() == quarter["day"].dt.date.to_numpy()).all()


def test_daily_kpis_match_pandas(cdnow):
    _, log, quarter, con = cdnow
    first = log.groupby("customer_id")["day"].min()  # first purchase over the whole log
    by_day = quarter.groupby("day")
    expected = pd.DataFrame(
        {
            "orders": by_day.size(),
            "units_sold": by_day["cds"].sum(),
            "net_revenue": by_day["amount"].apply(lambda a: sum(a, Decimal(0))),
            "buyers": by_day["customer_id"].nunique(),
            "new_customers": first[first <= pd.Timestamp(END)].value_counts(),
        }
    ).fillna(0)
    expected["aov"] = [
        (n / o).quantize(CENT, ROUND_HALF_UP) for n, o in zip(expected["net_revenue"], expected["orders"])
    ]
    pairs = quarter[["customer_id", "day"]].drop_duplicates()
    returning = pairs[pairs["customer_id"].map(first) < pairs["day"]].groupby("day").size()
    expected["repurchase_rate"] = returning.reindex(expected.index).fillna(0) / expected["buyers"]
    got = con.execute(
        "select kpi_date, orders, units_sold, net_revenue, sales_amount, returns_amount, buyers, new_customers, "
        "aov, repurchase_rate, active_users from marts.kpi_daily order by kpi_date"
    ).df()
    got.index = pd.to_datetime(got.pop("kpi_date"))
    assert list(got.index) == list(expected.index), "one row per day of the quarter, none invented"
    for column in ("orders", "units_sold", "buyers", "new_customers"):
        assert got[column].astype(int).tolist() == expected[column].astype(int).tolist(), column
    for column in ("net_revenue", "aov"):
        assert [Decimal(str(v)) for v in got[column]] == list(expected[column]), f"{column} decimal-exact"
    assert (got["sales_amount"] == got["net_revenue"]).all() and (got["returns_amount"] == 0).all()
    assert (got["repurchase_rate"] - expected["repurchase_rate"]).abs().max() < 1e-12
    assert got["active_users"].isna().all(), "no tracking data: daily active users are unknown, not zero"


def test_monthly_kpis_and_cohorts_match_pandas(cdnow):
    _, log, quarter, con = cdnow
    month = quarter["day"].dt.to_period("M")
    monthly = con.execute(
        "select kpi_month, kpi, value, target, meets_target from marts.kpi_monthly order by kpi_month, kpi"
    ).df()
    wide = monthly.pivot(index="kpi_month", columns="kpi", values="value")
    wide.index = pd.to_datetime(wide.index).to_period("M")
    buyers = quarter.groupby(month)["customer_id"].nunique()
    assert wide["active_users"].astype(int).tolist() == buyers.tolist(), "active customers from orders"
    assert wide["orders"].astype(int).tolist() == quarter.groupby(month).size().tolist()
    revenue = quarter.groupby(month)["amount"].apply(lambda a: float(sum(a, Decimal(0))))
    assert (wide["net_revenue"] - revenue).abs().max() < 1e-6
    first_month = quarter.groupby("customer_id")["day"].min().dt.to_period("M")
    returning = quarter.assign(month=month, first=quarter["customer_id"].map(first_month))
    returning = returning[returning["first"] < returning["month"]].groupby("month")["customer_id"].nunique()
    rate = (returning.reindex(buyers.index).fillna(0) / buyers).tolist()
    assert wide["repurchase_rate"].tolist() == pytest.approx(rate, abs=1e-12)
    for kpi in ("conversion_rate", "cac", "roas", "nps"):
        assert wide[kpi].isna().all(), f"{kpi}: the data does not support it, so it is not made up"
    assert monthly["target"].isna().all() and monthly["meets_target"].isna().all(), "no targets file, no verdicts"

    cohorts = con.execute(
        "select cohort_start, periods_since, cohort_size, active_customers from marts.kpi_retention_cohorts "
        "where cohort_grain = 'month' order by 1, 2"
    ).df()
    active = quarter.assign(month=month)[["customer_id", "month"]].drop_duplicates()
    active["cohort"] = active["customer_id"].map(first_month)
    active["since"] = [(m - c).n for m, c in zip(active["month"], active["cohort"])]
    table = active.groupby(["cohort", "since"])["customer_id"].nunique()
    sizes = first_month.value_counts()
    expected = [(c.start_time.date(), s, int(sizes[c]), int(n)) for (c, s), n in table.items()]
    got = [(pd.Timestamp(c).date(), int(s), int(z), int(a)) for c, s, z, a in cohorts.itertuples(index=False)]
    assert got == expected


def test_customer_profiles_reconcile_with_revenue(cdnow):
    _, _, quarter, con = cdnow
    profiles = con.execute("select count(*), sum(net_revenue) from marts.user_profile").fetchall()[0]
    assert profiles[0] == quarter["customer_id"].nunique()
    assert Decimal(str(profiles[1])) == sum(quarter["amount"], Decimal(0))


def test_the_default_volume_check_finds_the_end_of_the_acquisition_window(cdnow):
    """With the default thresholds the day new customers stop (26 March 1997) is red: a real
    change in the data, which is why the CDNOW alerting file takes orders out of the volume check."""
    _, log, quarter, _ = cdnow
    rows = quarter.groupby(quarter["day"].dt.date).size()
    outcome = worst_day_volume(
        rows, list(rows.index), load_alerting_config(PROJECT_ROOT / "expectations" / "alerting.yaml"), "orders"
    )
    assert not outcome.passed and outcome.level == "red" and "1997-03-26" in outcome.message, outcome
