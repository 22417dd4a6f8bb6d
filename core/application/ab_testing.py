"""A/B test analysis: per-variant outcomes, lifts with confidence intervals, tests and a decision.

The unit is the assigned customer. An experiment assigns a customer when they first reach
checkout inside its window, and the variant changes how likely a checkout turns into a purchase.
So the primary metric is **conversion within the attribution window**: the customer placed an
order with a completed line at or after ``assigned_at`` and before ``assigned_at + window``
(default 24 hours, i.e. the checkout at which they were assigned). A long window (everything
until the end of the experiment) dilutes the effect: customers of both variants keep coming back
and most of them eventually buy, so the share that ever bought says little about one checkout.
Revenue per user is the sales (after coupon discounts, before later returns) of those orders,
averaged over every assigned customer, buyers or not.

Customers assigned less than one window before the last order in the data are left out (their
window is not over yet), and so are customers recorded in more than one variant of the same
experiment (a broken assignment; they are counted in ``crossover_users``).

Statistics, treatment vs control, at ``alpha`` (default 0.05, two-sided):

- conversion: two-proportion z-test with the pooled rate (p-value); absolute lift with the
  unpooled Wald interval; relative lift ``p_t / p_c - 1`` with the delta method on the log of
  the ratio (``exp(log(p_t/p_c) +/- z * sqrt((1-p_t)/(n_t p_t) + (1-p_c)/(n_c p_c))) - 1``);
- revenue per user: Welch's t-test (unequal variances, Welch-Satterthwaite degrees of freedom),
  with its interval for the difference of means;
- sample-ratio mismatch: chi-square goodness of fit of the users per variant against the planned
  split (50/50 unless told otherwise); a mismatch at p < ``srm_alpha`` (0.001) invalidates the test.

Decision of each treatment, the first rule that applies:

1. ``insufficient_data``: fewer than ``min_users`` users or ``min_conversions`` conversions in
   the treatment or the control (the normal approximations are not trustworthy);
2. ``invalid_srm``: the experiment's split differs from the plan (p < srm_alpha);
3. ``harm``: conversion or revenue per user is significantly lower than in control;
4. ``ship``: conversion is significantly higher (and revenue per user not significantly lower);
5. ``no_effect``: no significant difference at ``alpha``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

CONTROL = "control"
RESULTS_TABLE = "application.ab_test_results"
ASSIGNMENTS = "staging.stg_experiments__assignments"
ORDER_LINES = "intermediate.int_order_lines"

# Column name -> DuckDB type of application.ab_test_results, in order.
RESULT_COLUMNS: dict[str, str] = {
    "experiment_id": "VARCHAR",
    "variant": "VARCHAR",
    "is_control": "BOOLEAN",
    "users": "BIGINT",
    "conversions": "BIGINT",
    "conversion_rate": "DOUBLE",
    "revenue": "DOUBLE",
    "revenue_per_user": "DOUBLE",
    "revenue_per_user_sd": "DOUBLE",
    "planned_share": "DOUBLE",
    "observed_share": "DOUBLE",
    "abs_lift": "DOUBLE",
    "abs_lift_ci_low": "DOUBLE",
    "abs_lift_ci_high": "DOUBLE",
    "rel_lift": "DOUBLE",
    "rel_lift_ci_low": "DOUBLE",
    "rel_lift_ci_high": "DOUBLE",
    "z_conversion": "DOUBLE",
    "p_value_conversion": "DOUBLE",
    "revenue_per_user_diff": "DOUBLE",
    "revenue_per_user_diff_ci_low": "DOUBLE",
    "revenue_per_user_diff_ci_high": "DOUBLE",
    "revenue_per_user_rel_lift": "DOUBLE",
    "t_revenue": "DOUBLE",
    "df_revenue": "DOUBLE",
    "p_value_revenue": "DOUBLE",
    "srm_chi2": "DOUBLE",
    "srm_p_value": "DOUBLE",
    "decision": "VARCHAR",
    "decision_reason": "VARCHAR",
    "experiment_users": "BIGINT",
    "crossover_users": "BIGINT",
    "first_assigned_at": "TIMESTAMP",
    "last_assigned_at": "TIMESTAMP",
    "as_of": "TIMESTAMP",
    "conversion_window_hours": "DOUBLE",
    "alpha": "DOUBLE",
    "computed_at": "TIMESTAMP",
}


@dataclass(frozen=True)
class AbConfig:
    """How experiments are judged."""

    window: dt.timedelta = dt.timedelta(hours=24)
    alpha: float = 0.05
    srm_alpha: float = 0.001
    min_users: int = 100
    min_conversions: int = 10
    # experiment_id -> {variant: planned weight}; experiments not listed are split evenly.
    planned_splits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


# ------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class ProportionComparison:
    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    z: float
    p_value: float


@dataclass(frozen=True)
class MeanComparison:
    diff: float
    ci: tuple[float, float]
    t: float
    df: float
    p_value: float


def compare_proportions(conv_t: int, n_t: int, conv_c: int, n_c: int, alpha: float = 0.05) -> ProportionComparison:
    """Treatment vs control conversion: pooled z-test, Wald CI of the difference, log-delta CI of the ratio."""
    if min(n_t, n_c) <= 0:
        raise ValueError(f"both variants need users (treatment {n_t}, control {n_c})")
    z_crit = float(stats.norm.ppf(1 - alpha / 2))
    p_t, p_c = conv_t / n_t, conv_c / n_c
    diff = p_t - p_c
    se_diff = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    pooled = (conv_t + conv_c) / (n_t + n_c)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if se_pooled > 0:
        z = diff / se_pooled
        p_value = float(2 * stats.norm.sf(abs(z)))
    else:  # both variants all-or-nothing and equal: nothing to tell apart
        z, p_value = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    if p_t > 0 and p_c > 0:
        rel = p_t / p_c - 1
        se_log = math.sqrt((1 - p_t) / (n_t * p_t) + (1 - p_c) / (n_c * p_c))
        log_ratio = math.log(p_t / p_c)
        rel_ci = (math.exp(log_ratio - z_crit * se_log) - 1, math.exp(log_ratio + z_crit * se_log) - 1)
    else:
        rel, rel_ci = (math.nan if p_c == 0 else -1.0), (math.nan, math.nan)
    return ProportionComparison(diff, (diff - z_crit * se_diff, diff + z_crit * se_diff), rel, rel_ci, z, p_value)


def compare_means(x_t: np.ndarray, x_c: np.ndarray, alpha: float = 0.05) -> MeanComparison:
    """Welch's t-test of mean(x_t) - mean(x_c), with its confidence interval."""
    x_t, x_c = np.asarray(x_t, dtype=float), np.asarray(x_c, dtype=float)
    n_t, n_c = x_t.size, x_c.size
    if min(n_t, n_c) < 2:
        raise ValueError(f"Welch's test needs two values per variant (treatment {n_t}, control {n_c})")
    v_t, v_c = x_t.var(ddof=1) / n_t, x_c.var(ddof=1) / n_c
    diff = float(x_t.mean() - x_c.mean())
    se = math.sqrt(v_t + v_c)
    if se == 0:
        return MeanComparison(
            diff,
            (diff, diff),
            0.0 if diff == 0 else math.copysign(math.inf, diff),
            float(n_t + n_c - 2),
            1.0 if diff == 0 else 0.0,
        )
    df = (v_t + v_c) ** 2 / (v_t**2 / (n_t - 1) + v_c**2 / (n_c - 1))
    t = diff / se
    t_crit = float(stats.t.ppf(1 - alpha / 2, df))
    return MeanComparison(
        diff, (diff - t_crit * se, diff + t_crit * se), t, float(df), float(2 * stats.t.sf(abs(t), df))
    )


def sample_ratio_test(observed: Mapping[str, int], planned: Mapping[str, float] | None = None) -> tuple[float, float]:
    """Chi-square goodness of fit of users per variant against the planned split: (chi2, p-value)."""
    variants = sorted(observed)
    weights = np.array([planned.get(v, 0.0) for v in variants] if planned else [1.0] * len(variants), dtype=float)
    if (weights <= 0).any():
        missing = [v for v, w in zip(variants, weights) if w == 0]
        raise ValueError(f"the planned split has no share for variant(s) {missing}: give every variant a weight")
    counts = np.array([observed[v] for v in variants], dtype=float)
    expected = counts.sum() * weights / weights.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, len(variants) - 1))


# ------------------------------------------------------------------ outcomes per user
def user_outcomes(
    assignments: pd.DataFrame, orders: pd.DataFrame, window: dt.timedelta, as_of: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per assigned customer: (experiment_id, variant, customer_id, assigned_at, converted, revenue).

    ``assignments``: experiment_id, variant, customer_id, assigned_at (several rows per customer
    allowed: the first counts). ``orders``: customer_id, ordered_at, amount, one row per order.
    ``as_of``: the last moment the data covers (default: the latest order); customers whose window
    ends after it are left out. Returns the outcomes and the crossovers per experiment.
    """
    a = assignments.dropna(subset=["experiment_id", "variant", "customer_id", "assigned_at"])
    a = a.assign(assigned_at=pd.to_datetime(a["assigned_at"]))
    grouped = a.groupby(["experiment_id", "customer_id"], sort=False)
    first = grouped.agg(
        variant=("variant", "first"), variants=("variant", "nunique"), assigned_at=("assigned_at", "min")
    ).reset_index()
    crossovers = first[first["variants"] > 1].groupby("experiment_id").size().rename("crossover_users").reset_index()
    first = first[first["variants"] == 1].drop(columns="variants")
    columns = ["experiment_id", "variant", "customer_id", "assigned_at", "converted", "revenue"]
    if first.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), crossovers
    o = orders.dropna(subset=["customer_id", "ordered_at"])
    o = o.assign(
        customer_id=o["customer_id"].astype(str),
        ordered_at=pd.to_datetime(o["ordered_at"]),
        amount=o["amount"].astype(float),
    )
    first = first.assign(customer_id=first["customer_id"].astype(str))
    if as_of is None:
        as_of = o["ordered_at"].max() if len(o) else first["assigned_at"].max()
    if pd.notna(as_of):
        first = first[first["assigned_at"] + window <= pd.Timestamp(as_of)]
    joined = first.merge(o[["customer_id", "ordered_at", "amount"]], on="customer_id", how="inner")
    inside = joined[
        (joined["ordered_at"] >= joined["assigned_at"]) & (joined["ordered_at"] < joined["assigned_at"] + window)
    ]
    per_user = (
        inside.groupby(["experiment_id", "customer_id"])
        .agg(orders=("amount", "size"), revenue=("amount", "sum"))
        .reset_index()
    )
    out = first.merge(per_user, on=["experiment_id", "customer_id"], how="left")
    out["converted"] = out["orders"].fillna(0).astype(int) > 0
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    out = out[columns]
    return out.sort_values(["experiment_id", "variant", "customer_id"]).reset_index(drop=True), crossovers


# ------------------------------------------------------------------ the analysis
def _decide(
    n: tuple[int, int],
    conv: tuple[int, int],
    srm_p: float,
    prop: ProportionComparison | None,
    means: MeanComparison | None,
    config: AbConfig,
) -> tuple[str, str]:
    if min(n) < config.min_users or min(conv) < config.min_conversions:
        return "insufficient_data", (
            f"needs {config.min_users} users and {config.min_conversions} conversions "
            f"per variant (treatment {n[0]}/{conv[0]}, control {n[1]}/{conv[1]})"
        )
    if srm_p < config.srm_alpha:
        return "invalid_srm", f"sample ratio mismatch (p = {srm_p:.2g} < {config.srm_alpha})"
    assert prop is not None and means is not None
    worse = [
        name
        for name, p, d in [("conversion", prop.p_value, prop.abs_lift), ("revenue per user", means.p_value, means.diff)]
        if p < config.alpha and d < 0
    ]
    if worse:
        return "harm", f"{' and '.join(worse)} significantly lower (alpha {config.alpha})"
    if prop.p_value < config.alpha and prop.abs_lift > 0:
        return "ship", f"conversion {prop.rel_lift:+.1%} (p = {prop.p_value:.2g})"
    return "no_effect", f"no significant difference at alpha {config.alpha} (conversion p = {prop.p_value:.2g})"


def analyse(
    outcomes: pd.DataFrame,
    config: AbConfig = AbConfig(),
    crossovers: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
    computed_at: dt.datetime | None = None,
) -> pd.DataFrame:
    """The results table: one row per experiment x variant; comparison columns on the treatment rows."""
    computed_at = computed_at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    cross = dict(zip(crossovers["experiment_id"], crossovers["crossover_users"])) if crossovers is not None else {}
    rows = []
    for exp_id, exp in outcomes.groupby("experiment_id", sort=True):
        per = {v: g for v, g in exp.groupby("variant", sort=True)}
        users = {v: len(g) for v, g in per.items()}
        planned = config.planned_splits.get(exp_id) or dict.fromkeys(per, 1.0)
        planned_total = sum(planned.get(v, 0.0) for v in per) or 1.0
        srm_chi2, srm_p = sample_ratio_test(users, planned) if len(per) > 1 else (math.nan, math.nan)
        control = per.get(CONTROL)
        base = {
            "experiment_id": exp_id,
            "srm_chi2": srm_chi2,
            "srm_p_value": srm_p,
            "experiment_users": int(len(exp)),
            "crossover_users": int(cross.get(exp_id, 0)),
            "first_assigned_at": exp["assigned_at"].min(),
            "last_assigned_at": exp["assigned_at"].max(),
            "as_of": as_of,
            "conversion_window_hours": config.window.total_seconds() / 3600,
            "alpha": config.alpha,
            "computed_at": computed_at,
        }
        for variant, g in per.items():
            conv, n = int(g["converted"].sum()), len(g)
            rev = g["revenue"].to_numpy(dtype=float)
            row = base | {
                "variant": variant,
                "is_control": variant == CONTROL,
                "users": n,
                "conversions": conv,
                "conversion_rate": conv / n,
                "revenue": float(rev.sum()),
                "revenue_per_user": float(rev.mean()),
                "revenue_per_user_sd": float(rev.std(ddof=1)) if n > 1 else math.nan,
                "planned_share": planned.get(variant, 0.0) / planned_total,
                "observed_share": n / len(exp),
            }
            if variant != CONTROL:
                row |= _compare(g, control, srm_p, config)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return frame.sort_values(
        ["experiment_id", "is_control", "variant"], ascending=[True, False, True], ignore_index=True
    )


def _compare(treat: pd.DataFrame, control: pd.DataFrame | None, srm_p: float, config: AbConfig) -> dict:
    if control is None:
        return {"decision": "insufficient_data", "decision_reason": f"no '{CONTROL}' variant to compare with"}
    n = (len(treat), len(control))
    conv = (int(treat["converted"].sum()), int(control["converted"].sum()))
    out: dict = {}
    prop = means = None
    if min(n) >= 2:
        prop = compare_proportions(conv[0], n[0], conv[1], n[1], config.alpha)
        means = compare_means(treat["revenue"].to_numpy(), control["revenue"].to_numpy(), config.alpha)
        rpu_c = float(control["revenue"].mean())
        out = {
            "abs_lift": prop.abs_lift,
            "abs_lift_ci_low": prop.abs_ci[0],
            "abs_lift_ci_high": prop.abs_ci[1],
            "rel_lift": prop.rel_lift,
            "rel_lift_ci_low": prop.rel_ci[0],
            "rel_lift_ci_high": prop.rel_ci[1],
            "z_conversion": prop.z,
            "p_value_conversion": prop.p_value,
            "revenue_per_user_diff": means.diff,
            "revenue_per_user_diff_ci_low": means.ci[0],
            "revenue_per_user_diff_ci_high": means.ci[1],
            "revenue_per_user_rel_lift": means.diff / rpu_c if rpu_c else math.nan,
            "t_revenue": means.t,
            "df_revenue": means.df,
            "p_value_revenue": means.p_value,
        }
    decision, reason = _decide(n, conv, srm_p, prop, means, config)
    return out | {"decision": decision, "decision_reason": reason}


# ------------------------------------------------------------------ the warehouse
def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".")
    return (
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()[0]
        > 0
    )


def read_inputs(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """Assignments, the assigned customers' orders (one row per order) and the data's last order time."""
    if not (_exists(con, ASSIGNMENTS) and _exists(con, ORDER_LINES)):
        empty = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ["experiment_id", "variant", "customer_id", "assigned_at"]}
        )
        return empty, pd.DataFrame({"customer_id": [], "ordered_at": [], "amount": []}), None
    assignments = con.execute(
        f"select experiment_id, variant, customer_id, assigned_at from {ASSIGNMENTS} "
        "where experiment_id is not null and customer_id is not null"
    ).df()
    orders = con.execute(
        f"""select customer_id, order_id, min(ordered_at) as ordered_at, cast(sum(net_amount) as double) as amount
            from {ORDER_LINES}
            where line_type = 'sale'
              and customer_id in (select customer_id from {ASSIGNMENTS})
            group by customer_id, order_id"""
    ).df()
    as_of = con.execute(f"select max(ordered_at) from {ORDER_LINES} where line_type = 'sale'").fetchone()[0]
    return assignments, orders, (pd.Timestamp(as_of) if as_of is not None else None)


def write_results(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> int:
    """Replace application.ab_test_results with ``results`` in one transaction. Returns the rows written."""
    columns = ", ".join(f'"{c}" {t}' for c, t in RESULT_COLUMNS.items())
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists application")
        con.execute(f"create or replace table {RESULTS_TABLE} ({columns})")
        if len(results):
            frame = results[list(RESULT_COLUMNS)]  # noqa: F841 (read by DuckDB by name)
            con.execute(f"insert into {RESULTS_TABLE} select * from frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(results)


def run_analysis(con: duckdb.DuckDBPyConnection, config: AbConfig = AbConfig()) -> pd.DataFrame:
    """Read the warehouse, analyse every experiment and write the results table."""
    assignments, orders, as_of = read_inputs(con)
    outcomes, crossovers = user_outcomes(assignments, orders, config.window, as_of)
    results = analyse(outcomes, config, crossovers, as_of)
    write_results(con, results)
    return results


def markdown_table(results: pd.DataFrame) -> str:
    """A short markdown summary: one line per treatment (and its control's conversion)."""
    lines = [
        "| experiment | variant | users (t/c) | conversion (t/c) | relative lift [95% CI] | p | "
        "revenue/user (t/c) | p (revenue) | SRM p | decision |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for exp_id, exp in results.groupby("experiment_id", sort=True):
        control = exp[exp["is_control"]]
        c = control.iloc[0] if len(control) else None
        for r in exp[~exp["is_control"]].itertuples():
            users_c = f"{c.users}" if c is not None else "-"
            conv_c = f"{c.conversion_rate:.1%}" if c is not None else "-"
            rpu_c = f"{c.revenue_per_user:.2f}" if c is not None else "-"
            lift = (
                f"{r.rel_lift:+.1%} [{r.rel_lift_ci_low:+.1%}, {r.rel_lift_ci_high:+.1%}]"
                if pd.notna(r.rel_lift)
                else "-"
            )
            lines.append(
                f"| {exp_id} | {r.variant} | {r.users}/{users_c} | {r.conversion_rate:.1%}/{conv_c} | {lift} | "
                f"{_fmt_p(r.p_value_conversion)} | {r.revenue_per_user:.2f}/{rpu_c} | "
                f"{_fmt_p(r.p_value_revenue)} | {_fmt_p(r.srm_p_value)} | {r.decision} |"
            )
    return "\n".join(lines)


def _fmt_p(p: float) -> str:
    return "-" if p is None or pd.isna(p) else f"{p:.3g}"
