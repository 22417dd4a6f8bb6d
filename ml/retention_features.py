"""Point-in-time features and labels for the retention model, computed in DuckDB.

For a cutoff date `c`, the population is every customer with a sale in the `active_days` before
`c`. Features use only rows whose event time (and, for order lines, recording time) is before
`c`: changing or deleting anything on or after the cutoff leaves them unchanged. The label says
whether the customer buys again in [c, c + horizon); it is null where that window is not over yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

CHANNELS = ["organic", "paid_search", "social_ads", "affiliate", "referral"]

# Warehouse tables the features read (the leakage test truncates exactly these at the cutoff).
SOURCES = {
    "intermediate.int_order_lines": "recorded_at",
    "intermediate.int_customer_daily_activity": "activity_date",
    "staging.stg_feedback__nps": "responded_at",
    "staging.stg_feedback__tickets": "created_at",
    "staging.stg_shop__users": "signed_up_at",
}

FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_gap_days",
    "orders_30d",
    "orders_31_90d",
    "net_30d",
    "net_31_90d",
    "order_trend",
    "returns",
    "return_share",
    "active_days_30d",
    "sessions_30d",
    "events_30d",
    "days_since_visit",
    "transaction_share_60d",
    "social_share_60d",
    "content_share_60d",
    "nps_last",
    "nps_responses",
    "tickets_90d",
    "open_tickets",
    "channel_code",
]
CATEGORICAL = ["channel_code"]


@dataclass(frozen=True)
class CutoffPlan:
    """The cutoffs of one training run: training, evaluation (later) and scoring (now)."""

    training: tuple[dt.date, ...]
    evaluation: dt.date
    scoring: dt.date

    def all(self) -> list[dt.date]:
        return sorted({*self.training, self.evaluation, self.scoring})


class InsufficientHistory(ValueError):
    pass


def plan_cutoffs(
    first_day: dt.date,
    last_day: dt.date,
    horizon_days: int,
    training_cutoffs: int,
    cutoff_step_days: int,
    min_history_days: int,
) -> CutoffPlan:
    """Evaluation labels end on the last complete day; every training label ends before evaluation starts."""
    scoring = last_day + dt.timedelta(days=1)
    evaluation = scoring - dt.timedelta(days=horizon_days)
    earliest = first_day + dt.timedelta(days=min_history_days)
    training = [evaluation - dt.timedelta(days=horizon_days + k * cutoff_step_days) for k in range(training_cutoffs)]
    training = tuple(sorted(c for c in training if c >= earliest))
    if not training:
        needed = min_history_days + 2 * horizon_days
        have = (last_day - first_day).days + 1
        raise InsufficientHistory(
            f"the retention model needs at least {needed} days of order history (min_history_days "
            f"{min_history_days} + 2 x horizon_days {horizon_days}); the warehouse has {have} "
            f"({first_day} to {last_day}). Load more history or shorten horizon_days."
        )
    return CutoffPlan(training, evaluation, scoring)


def order_history_span(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    first, last = con.execute(
        "select min(order_date), max(order_date) from intermediate.int_order_lines where line_type = 'sale'"
    ).fetchall()[0]
    return (first, last) if first is not None else None


def build_features(
    con: duckdb.DuckDBPyConnection, cutoffs: list[dt.date], horizon_days: int, active_days: int = 90
) -> pd.DataFrame:
    """One row per (cutoff, active customer): features from before the cutoff, and the label."""
    channels = ", ".join(f"'{c}'" for c in CHANNELS)
    sql = f"""
    with cutoffs as (select unnest($cutoffs::date[]) as cutoff),
    last_day as (select max(order_date) as last_day from intermediate.int_order_lines),
    lines as (
        select customer_id, order_id, order_date, recorded_at, line_type, net_amount, return_amount
        from intermediate.int_order_lines
        where customer_id is not null
    ),
    orders as (  -- one row per (cutoff, customer, order) known before the cutoff
        select c.cutoff, l.customer_id, l.order_id, min(l.order_date) as order_date, sum(l.net_amount) as net
        from cutoffs c join lines l on l.line_type = 'sale' and l.recorded_at < c.cutoff
        group by all
    ),
    population as (
        select cutoff, customer_id
        from orders
        group by all
        having max(order_date) >= cutoff - {int(active_days)}
    ),
    rfm as (
        select
            o.cutoff, o.customer_id,
            date_diff('day', max(o.order_date), o.cutoff) as recency_days,
            count(*) as frequency,
            sum(o.net) as monetary,
            sum(o.net) / count(*) as avg_order_value,
            date_diff('day', min(o.order_date), o.cutoff) as tenure_days,
            case when count(*) > 1 then date_diff('day', min(o.order_date), max(o.order_date)) / (count(*) - 1) end
                as mean_gap_days,
            count(*) filter (where o.order_date >= o.cutoff - 30) as orders_30d,
            count(*) filter (where o.order_date < o.cutoff - 30 and o.order_date >= o.cutoff - 90) as orders_31_90d,
            coalesce(sum(o.net) filter (where o.order_date >= o.cutoff - 30), 0) as net_30d,
            coalesce(sum(o.net) filter (where o.order_date < o.cutoff - 30 and o.order_date >= o.cutoff - 90), 0)
                as net_31_90d
        from orders o join population p using (cutoff, customer_id)
        group by o.cutoff, o.customer_id
    ),
    returns as (
        select c.cutoff, l.customer_id, count(*) as returns, sum(l.return_amount) as return_amount
        from cutoffs c join lines l on l.line_type = 'return' and l.recorded_at < c.cutoff
        group by all
    ),
    activity as (
        select
            c.cutoff, a.customer_id,
            count(*) filter (where a.activity_date >= c.cutoff - 30) as active_days_30d,
            coalesce(sum(a.sessions) filter (where a.activity_date >= c.cutoff - 30), 0) as sessions_30d,
            coalesce(sum(a.events) filter (where a.activity_date >= c.cutoff - 30), 0) as events_30d,
            date_diff('day', max(a.activity_date), c.cutoff) as days_since_visit,
            sum(a.transaction_events) filter (where a.activity_date >= c.cutoff - 60) as transaction_60d,
            sum(a.social_events) filter (where a.activity_date >= c.cutoff - 60) as social_60d,
            sum(a.content_events) filter (where a.activity_date >= c.cutoff - 60) as content_60d
        from cutoffs c join intermediate.int_customer_daily_activity a on a.activity_date < c.cutoff
        group by c.cutoff, a.customer_id
    ),
    nps as (
        select c.cutoff, n.customer_id, arg_max(n.score, n.responded_at) as nps_last, count(*) as nps_responses
        from cutoffs c join staging.stg_feedback__nps n on n.responded_at < c.cutoff and n.customer_id is not null
        group by c.cutoff, n.customer_id
    ),
    tickets as (
        select
            c.cutoff, t.customer_id,
            count(*) filter (where t.created_at >= c.cutoff - 90) as tickets_90d,
            count(*) filter (where t.status = 'open') as open_tickets
        from cutoffs c join staging.stg_feedback__tickets t on t.created_at < c.cutoff and t.customer_id is not null
        group by c.cutoff, t.customer_id
    ),
    users as (
        select c.cutoff, u.customer_id,
               coalesce(list_position([{channels}], any_value(u.acquisition_channel)), 0) as channel_code
        from cutoffs c join staging.stg_shop__users u on u.signed_up_at < c.cutoff
        group by c.cutoff, u.customer_id
    ),
    future as (
        select p.cutoff, p.customer_id, count(*) as future_lines
        from population p
        join lines l on l.customer_id = p.customer_id and l.line_type = 'sale'
            and l.order_date >= p.cutoff and l.order_date < p.cutoff + {int(horizon_days)}
        group by all
    ),
    labels as (
        select p.cutoff, p.customer_id,
               case when p.cutoff + {int(horizon_days)} <= (select last_day from last_day) + 1
                    then cast(coalesce(f.future_lines, 0) > 0 as integer) end as label
        from population p left join future f using (cutoff, customer_id)
    )
    select
        r.cutoff, r.customer_id,
        r.recency_days, r.frequency, cast(r.monetary as double) as monetary,
        cast(r.avg_order_value as double) as avg_order_value, r.tenure_days,
        cast(r.mean_gap_days as double) as mean_gap_days,
        r.orders_30d, r.orders_31_90d, cast(r.net_30d as double) as net_30d, cast(r.net_31_90d as double) as net_31_90d,
        (r.orders_30d + 1.0) / (r.orders_31_90d / 2.0 + 1.0) as order_trend,
        coalesce(ret.returns, 0) as returns,
        case when r.monetary > 0 then cast(coalesce(ret.return_amount, 0) / r.monetary as double) end as return_share,
        coalesce(a.active_days_30d, 0) as active_days_30d, coalesce(a.sessions_30d, 0) as sessions_30d,
        coalesce(a.events_30d, 0) as events_30d, a.days_since_visit,
        a.transaction_60d / nullif(a.transaction_60d + a.social_60d + a.content_60d, 0) as transaction_share_60d,
        a.social_60d / nullif(a.transaction_60d + a.social_60d + a.content_60d, 0) as social_share_60d,
        a.content_60d / nullif(a.transaction_60d + a.social_60d + a.content_60d, 0) as content_share_60d,
        n.nps_last, coalesce(n.nps_responses, 0) as nps_responses,
        coalesce(t.tickets_90d, 0) as tickets_90d, coalesce(t.open_tickets, 0) as open_tickets,
        coalesce(u.channel_code, 0) as channel_code,
        lb.label
    from rfm r
    left join returns ret using (cutoff, customer_id)
    left join activity a using (cutoff, customer_id)
    left join nps n using (cutoff, customer_id)
    left join tickets t using (cutoff, customer_id)
    left join users u using (cutoff, customer_id)
    left join labels lb using (cutoff, customer_id)
    order by r.cutoff, r.customer_id
    """
    frame = con.execute(sql, {"cutoffs": [c.isoformat() for c in cutoffs]}).df()
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).dt.date
    for col in FEATURES:
        frame[col] = frame[col].astype(float)
    frame["label"] = frame["label"].astype("Int8")
    return frame
