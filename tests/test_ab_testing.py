"""A/B test analysis: statistics against scipy/statsmodels, outcome rules on hand-made data, the
decision rules, the asset on the shared platform, and the simulator's planted effects recovered."""

from __future__ import annotations

import datetime as dt
import json
import math

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from core.application.ab_testing import (
    RESULT_COLUMNS,
    RESULTS_TABLE,
    AbConfig,
    analyse,
    compare_means,
    compare_proportions,
    run_analysis,
    sample_ratio_test,
    user_outcomes,
    write_results,
)
from simulator.business import Business, Experiment

T0 = pd.Timestamp("2026-02-01 10:00:00")


# ------------------------------------------------------------------ statistics vs references
@pytest.mark.parametrize(
    "conv_t, n_t, conv_c, n_c",
    [
        (60, 100, 50, 100),
        (312, 1000, 260, 1010),
        (5, 40, 9, 37),
        (1480, 2500, 1230, 2480),
        (0, 50, 3, 60),
    ],
)
def test_proportions_match_statsmodels(conv_t, n_t, conv_c, n_c):
    got = compare_proportions(conv_t, n_t, conv_c, n_c)
    z, p = proportions_ztest([conv_t, conv_c], [n_t, n_c])
    assert got.z == pytest.approx(z, rel=1e-9) and got.p_value == pytest.approx(p, rel=1e-9)
    low, high = confint_proportions_2indep(conv_t, n_t, conv_c, n_c, method="wald", compare="diff")
    assert got.abs_lift == pytest.approx(conv_t / n_t - conv_c / n_c)
    assert got.abs_ci == pytest.approx((low, high), rel=1e-9)
    if conv_t and conv_c:
        low, high = confint_proportions_2indep(conv_t, n_t, conv_c, n_c, method="log", compare="ratio")
        assert got.rel_lift == pytest.approx((conv_t / n_t) / (conv_c / n_c) - 1)
        assert got.rel_ci == pytest.approx((low - 1, high - 1), rel=1e-9)
    else:
        assert got.rel_lift == -1.0 and all(math.isnan(x) for x in got.rel_ci)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x_t = np.where(rng.random(700) < 0.4, rng.lognormal(3.5, 0.8, 700), 0.0)
    x_c = np.where(rng.random(650) < 0.35, rng.lognormal(3.4, 0.6, 650), 0.0)
    got = compare_means(x_t, x_c)
    ref = stats.ttest_ind(x_t, x_c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert got.t == pytest.approx(ref.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert got.df == pytest.approx(ref.df, rel=1e-9)
    assert got.diff == pytest.approx(x_t.mean() - x_c.mean())
    assert got.ci == pytest.approx((ci.low, ci.high), rel=1e-9)


@pytest.mark.parametrize(
    "observed, planned",
    [
        ({"control": 5000, "treatment": 5000}, None),
        ({"control": 5120, "treatment": 4880}, None),
        ({"control": 2900, "treatment": 7100}, {"control": 0.3, "treatment": 0.7}),
        ({"control": 2900, "treatment": 7100}, None),
    ],
)
def test_sample_ratio_matches_scipy_chisquare(observed, planned):
    chi2, p = sample_ratio_test(observed, planned)
    counts = [observed["control"], observed["treatment"]]
    shares = [0.5, 0.5] if planned is None else [planned["control"], planned["treatment"]]
    ref = stats.chisquare(counts, [sum(counts) * s for s in shares])
    assert chi2 == pytest.approx(ref.statistic, rel=1e-9) and p == pytest.approx(ref.pvalue, rel=1e-9)


def test_sample_ratio_rejects_a_variant_without_a_planned_share():
    with pytest.raises(ValueError, match="treatment"):
        sample_ratio_test({"control": 10, "treatment": 12}, {"control": 1.0})


# ------------------------------------------------------------------ outcomes per user
def test_conversion_counts_orders_inside_the_window_only():
    h = pd.Timedelta(hours=1)
    assignments = pd.DataFrame(
        [
            ("exp", "treatment", "a", T0),  # buys 10 minutes later: converts
            ("exp", "treatment", "a", T0 + 5 * h),  # re-exported later assignment: the first one counts
            ("exp", "control", "b", T0),  # bought before assignment and 25 h after: no conversion
            ("exp", "control", "c", T0),  # two orders inside the window
            ("exp", "control", "d", T0),  # recorded in both variants: left out as a crossover
            ("exp", "treatment", "d", T0),
            ("exp", "control", "e", T0 + 200 * h),  # window not over at the end of the data: left out
            ("other", "control", "a", T0 + 30 * h),  # the same customer in another experiment, after the order
        ],
        columns=["experiment_id", "variant", "customer_id", "assigned_at"],
    )
    orders = pd.DataFrame(
        [
            ("a", T0 + pd.Timedelta(minutes=10), 30.0),
            ("b", T0 - h, 99.0),
            ("b", T0 + 25 * h, 45.0),
            ("c", T0 + 2 * h, 10.0),
            ("c", T0 + 23 * h, 15.5),
            ("d", T0 + h, 20.0),
            ("z", T0 + 210 * h, 1.0),  # the last order: the data ends here
        ],
        columns=["customer_id", "ordered_at", "amount"],
    )
    out, crossovers = user_outcomes(assignments, orders, dt.timedelta(hours=24))
    got = {(r.experiment_id, r.customer_id): (r.variant, bool(r.converted), r.revenue) for r in out.itertuples()}
    assert got == {
        ("exp", "a"): ("treatment", True, 30.0),
        ("exp", "b"): ("control", False, 0.0),
        ("exp", "c"): ("control", True, 25.5),
        ("other", "a"): ("control", False, 0.0),
    }
    assert crossovers.to_dict("records") == [{"experiment_id": "exp", "crossover_users": 1}]
    # A longer window counts b's later order; the end of the data still excludes e.
    longer, _ = user_outcomes(assignments, orders, dt.timedelta(hours=48))
    assert longer.set_index(["experiment_id", "customer_id"]).loc[("exp", "b"), "revenue"] == 45.0
    assert ("exp", "e") not in set(zip(longer["experiment_id"], longer["customer_id"]))


def _outcomes(experiment: str, arms: dict[str, tuple[int, int]], revenue: float = 20.0) -> pd.DataFrame:
    """Hand-made users: arms maps variant -> (users, conversions); converters spend `revenue` (+ noise)."""
    rows = []
    for variant, (users, conversions) in arms.items():
        for i in range(users):
            converted = i < conversions
            rows.append((experiment, variant, f"{variant}{i}", T0, converted, revenue + (i % 7) if converted else 0.0))
    return pd.DataFrame(
        rows, columns=["experiment_id", "variant", "customer_id", "assigned_at", "converted", "revenue"]
    )


@pytest.mark.parametrize(
    "arms, revenue, decision",
    [
        ({"control": (2000, 500), "treatment": (2000, 620)}, 20.0, "ship"),
        ({"control": (2000, 500), "treatment": (2000, 505)}, 20.0, "no_effect"),
        ({"control": (2000, 620), "treatment": (2000, 500)}, 20.0, "harm"),
        ({"control": (2300, 575), "treatment": (1700, 530)}, 20.0, "invalid_srm"),
        ({"control": (60, 20), "treatment": (60, 30)}, 20.0, "insufficient_data"),
        ({"control": (2000, 8), "treatment": (2000, 30)}, 20.0, "insufficient_data"),
    ],
)
def test_decision_rules(arms, revenue, decision):
    results = analyse(_outcomes("exp", arms, revenue))
    treatment = results[~results["is_control"]].iloc[0]
    assert treatment["decision"] == decision, treatment["decision_reason"]
    assert results[results["is_control"]]["decision"].isna().all()


def test_more_conversions_but_less_revenue_is_harm():
    outcomes = _outcomes("exp", {"control": (2000, 500), "treatment": (2000, 620)})
    outcomes.loc[(outcomes["variant"] == "treatment") & outcomes["converted"], "revenue"] = 5.0
    treatment = analyse(outcomes).query("variant == 'treatment'").iloc[0]
    assert treatment["p_value_conversion"] < 0.05 and treatment["abs_lift"] > 0
    assert treatment["decision"] == "harm" and "revenue" in treatment["decision_reason"]


def test_results_table_shape_and_planned_split():
    outcomes = pd.concat(
        [
            _outcomes("a", {"control": (300, 90), "treatment": (700, 240)}),
            _outcomes("b", {"control": (500, 100), "treatment": (500, 140)}),
        ]
    )
    config = AbConfig(planned_splits={"a": {"control": 0.3, "treatment": 0.7}})
    results = analyse(outcomes, config)
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert list(zip(results["experiment_id"], results["variant"])) == [
        ("a", "control"),
        ("a", "treatment"),
        ("b", "control"),
        ("b", "treatment"),
    ]
    a = results[results["experiment_id"] == "a"].set_index("variant")
    assert a.loc["treatment", "planned_share"] == pytest.approx(0.7) and a.loc["control", "srm_p_value"] > 0.5
    assert a.loc["treatment", "users"] == 700 and a.loc["treatment", "conversions"] == 240
    assert a.loc["treatment", "revenue_per_user"] == pytest.approx(
        outcomes.query("experiment_id == 'a' and variant == 'treatment'")["revenue"].mean()
    )
    assert pd.isna(a.loc["control", "rel_lift"]) and pd.notna(a.loc["treatment", "rel_lift"])
    # Without the planned 30/70 split, the same counts are a sample-ratio mismatch.
    assert (
        analyse(outcomes).query("experiment_id == 'a' and variant == 'treatment'")["decision"].item() == "invalid_srm"
    )


def test_write_results_replaces_the_table_in_one_transaction():
    con = duckdb.connect()
    results = analyse(_outcomes("exp", {"control": (300, 90), "treatment": (300, 120)}))
    assert write_results(con, results) == 2
    assert write_results(con, results) == 2
    assert con.execute(f"select count(*) from {RESULTS_TABLE}").fetchone()[0] == 2
    broken = results.drop(columns=["decision"])
    with pytest.raises(KeyError):
        write_results(con, broken)
    assert con.execute(f"select count(*) from {RESULTS_TABLE}").fetchone()[0] == 2, "a failed write keeps the old rows"
    assert write_results(con, analyse(_outcomes("x", {}))) == 0
    cols = [r[0] for r in con.execute(f"describe {RESULTS_TABLE}").fetchall()]
    assert cols == list(RESULT_COLUMNS)


def test_a_warehouse_without_experiments_gets_an_empty_results_table():
    con = duckdb.connect()
    assert run_analysis(con).empty, "no staging models at all (a fresh warehouse)"
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table staging.stg_experiments__assignments (experiment_id varchar, variant varchar, "
        "customer_id varchar, assigned_at timestamp)"
    )
    con.execute(
        "create table intermediate.int_order_lines (customer_id varchar, order_id varchar, "
        "ordered_at timestamp, net_amount decimal(18, 2), line_type varchar)"
    )
    assert run_analysis(con).empty, "an orders-only deployment: the experiments source is empty"
    assert con.execute(f"select count(*) from {RESULTS_TABLE}").fetchone()[0] == 0
    con.execute(
        "insert into staging.stg_experiments__assignments values "
        "('e', 'control', 'c1', '2026-01-01 10:00'), ('e', 'treatment', 'c2', '2026-01-01 10:00')"
    )
    con.execute(
        "insert into intermediate.int_order_lines values ('c2', 'o1', '2026-01-01 10:20', 12.5, 'sale'), "
        "('c9', 'o2', '2026-01-03 09:00', 3, 'sale'), ('c1', 'o3', '2026-01-01 10:30', 7, 'cancellation')"
    )
    results = run_analysis(con).set_index("variant")
    assert results.loc["treatment", "conversions"] == 1 and results.loc["control", "conversions"] == 0
    assert results.loc["treatment", "decision"] == "insufficient_data"


# ------------------------------------------------------------------ the platform's experiments
@pytest.fixture(scope="module")
def platform_results(platform) -> pd.DataFrame:
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        return con.execute(f"select * from {RESULTS_TABLE} order by experiment_id, variant").df()


@pytest.fixture(scope="module")
def reference_counts(platform) -> pd.DataFrame:
    """Per experiment and variant, recomputed in SQL straight from the staging models."""
    sql = """
        with assigned as (
            select experiment_id, customer_id, min(assigned_at) as assigned_at, min(variant) as variant
            from staging.stg_experiments__assignments
            group by 1, 2
            having count(distinct variant) = 1
        ),
        lines as (
            select distinct order_line_id, order_id, customer_id, ordered_at, status,
                   quantity * unit_price - discount_amount as amount
            from staging.stg_shop__orders
        ),
        sales as (
            select customer_id, order_id, min(ordered_at) as ordered_at, sum(amount) as amount
            from lines
            where status = 'completed' and customer_id is not null
            group by 1, 2
        ),
        horizon as (select max(ordered_at) as as_of from lines where status = 'completed'),
        per_user as (
            select a.experiment_id, a.variant, a.customer_id,
                   count(s.order_id) > 0 as converted, coalesce(sum(s.amount), 0) as revenue
            from assigned a
            cross join horizon
            left join sales s on s.customer_id = a.customer_id
                and s.ordered_at >= a.assigned_at and s.ordered_at < a.assigned_at + interval 24 hour
            where a.assigned_at + interval 24 hour <= horizon.as_of
            group by 1, 2, 3
        )
        select experiment_id, variant, customer_id, converted, cast(revenue as double) as revenue from per_user
    """
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).df()


def test_platform_results_match_an_independent_computation(platform_results, reference_counts):
    assert len(platform_results) == 4, "two experiments, two variants each"
    for exp_id, ref in reference_counts.groupby("experiment_id"):
        got = platform_results[platform_results["experiment_id"] == exp_id].set_index("variant")
        arms = {v: g for v, g in ref.groupby("variant")}
        for variant, g in arms.items():
            assert got.loc[variant, "users"] == len(g)
            assert got.loc[variant, "conversions"] == int(g["converted"].sum())
            assert got.loc[variant, "revenue_per_user"] == pytest.approx(g["revenue"].mean(), rel=1e-9)
        t, c = arms["treatment"], arms["control"]
        z, p = proportions_ztest([t["converted"].sum(), c["converted"].sum()], [len(t), len(c)])
        low, high = confint_proportions_2indep(
            t["converted"].sum(), len(t), c["converted"].sum(), len(c), method="log", compare="ratio"
        )
        welch = stats.ttest_ind(t["revenue"], c["revenue"], equal_var=False)
        srm = stats.chisquare([len(c), len(t)])
        row = got.loc["treatment"]
        assert row["z_conversion"] == pytest.approx(z, rel=1e-9)
        assert row["p_value_conversion"] == pytest.approx(p, rel=1e-6)
        assert (row["rel_lift_ci_low"], row["rel_lift_ci_high"]) == pytest.approx((low - 1, high - 1), rel=1e-9)
        assert row["p_value_revenue"] == pytest.approx(welch.pvalue, rel=1e-6)
        assert row["srm_p_value"] == pytest.approx(srm.pvalue, rel=1e-9)


def test_platform_recovers_the_simulators_true_effects(platform, platform_results):
    manifest = json.loads((platform.settings.landing_dir.parent / "ground_truth" / "manifest.json").read_text())
    truth = {e["experiment_id"]: e["true_relative_effect_on_checkout_conversion"] for e in manifest["experiments"]}
    assert truth == {"exp_checkout_redesign": 0.2, "exp_banner_color": 0.0}
    rows = platform_results[~platform_results["is_control"]].set_index("experiment_id")
    redesign, banner = rows.loc["exp_checkout_redesign"], rows.loc["exp_banner_color"]
    assert redesign["rel_lift_ci_low"] <= truth["exp_checkout_redesign"] <= redesign["rel_lift_ci_high"]
    assert redesign["rel_lift_ci_low"] > 0 and redesign["decision"] == "ship"
    assert banner["p_value_conversion"] >= 0.05 and banner["rel_lift_ci_low"] <= 0 <= banner["rel_lift_ci_high"]
    assert banner["decision"] == "no_effect"
    assert (rows["srm_p_value"] > 0.001).all()


def test_asset_records_lift_and_p_value(platform):
    event = platform.instance.get_latest_materialization_event(dg.AssetKey(["application", "ab_test_results"]))
    assert event is not None, "the daily job materialises the A/B results"
    metadata = event.asset_materialization.metadata
    assert 0 < metadata["exp_checkout_redesign/relative_lift"].value < 1
    assert metadata["exp_checkout_redesign/p_value"].value < 0.05
    assert metadata["exp_banner_color/p_value"].value >= 0.05
    assert "exp_checkout_redesign" in metadata["results"].value and metadata["dagster/row_count"].value == 4


# ------------------------------------------------------------------ planted effects on a bigger business
PLANTED = {"exp_lift_20": 0.20, "exp_none": 0.0, "exp_harm_15": -0.15}


@pytest.fixture(scope="module")
def planted_results() -> pd.DataFrame:
    """Experiments with known effects on a simulated business (no exports, no warehouse): ~10 s."""
    start, end = dt.date(2026, 1, 1), dt.date(2026, 5, 30)
    business = Business(start, end, seed=23, scale=2.0)
    business.experiments = [
        Experiment(name, start + dt.timedelta(days=7), end, effect) for name, effect in PLANTED.items()
    ]
    assignments, orders = [], []
    day = start
    while day <= end:
        frames = business.simulate_day(day).frames
        assignments.append(frames["experiments"])
        lines = frames["orders"].query("status == 'completed' and customer_id.notna()")
        orders.append(
            lines.assign(amount=lines["quantity"] * lines["unit_price"] - lines["discount_amount"])
            .groupby(["customer_id", "order_id"], as_index=False)
            .agg(ordered_at=("ordered_at", "min"), amount=("amount", "sum"))
        )
        day += dt.timedelta(days=1)
    outcomes, crossovers = user_outcomes(pd.concat(assignments), pd.concat(orders), dt.timedelta(hours=24))
    return analyse(outcomes, AbConfig(), crossovers).query("not is_control").set_index("experiment_id")


def test_planted_effects_are_recovered(planted_results):
    for name, effect in PLANTED.items():
        row = planted_results.loc[name]
        assert row["rel_lift_ci_low"] <= effect <= row["rel_lift_ci_high"], (name, row["rel_lift"])
        assert row["users"] > 3000 and row["crossover_users"] == 0
    assert planted_results.loc["exp_lift_20", "decision"] == "ship"
    assert planted_results.loc["exp_none", "decision"] == "no_effect"
    assert planted_results.loc["exp_harm_15", "decision"] == "harm"
    assert abs(planted_results.loc["exp_lift_20", "rel_lift"] - 0.20) < 0.06
