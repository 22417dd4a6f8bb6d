"""An independent pandas computation of the headline KPIs, straight from the landing files.

It shares no code with the platform: it parses the exports itself, drops the lines a careful
analyst would drop (unparseable lines, repeated keys), and applies the KPI definitions written in
the marts' YAML. Tests compare the marts against it.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

ORDER_COLUMNS = [
    "order_line_id",
    "order_id",
    "customer_id",
    "ordered_at",
    "recorded_at",
    "status",
    "product_id",
    "quantity",
    "unit_price",
    "discount_amount",
    "order_channel",
    "original_line_id",
]


def _utc(values: pd.Series) -> pd.Series:
    """Parse ISO, ISO with offset and 'YYYY/MM/DD hh:mm:ss' timestamps to naive UTC."""
    text = values.astype(str).str.replace("/", "-", regex=False)
    parsed = pd.to_datetime(text, format="mixed", utc=True, errors="coerce")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def _read_csvs(folder: Path, columns: list[str]) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="python")
        df = df.replace("", None)
        df["_file"] = path.stem
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns + ["_file"])
    return out


def load_orders(landing: Path) -> pd.DataFrame:
    raw = _read_csvs(landing / "orders", ORDER_COLUMNS)
    raw = raw.dropna(subset=["order_line_id", "status", "product_id", "quantity", "unit_price", "recorded_at"])
    raw = raw.drop_duplicates("order_line_id", keep="first")
    out = pd.DataFrame(
        {
            "order_line_id": raw["order_line_id"],
            "order_id": raw["order_id"],
            "customer_id": raw["customer_id"],
            "ordered_at": _utc(raw["ordered_at"]),
            "recorded_at": _utc(raw["recorded_at"]),
            "status": raw["status"],
            "quantity": raw["quantity"].astype(int),
            # Work in integer cents so sums are exact.
            "price_cents": (raw["unit_price"].astype(float) * 100).round().astype(np.int64),
            "discount_cents": (raw["discount_amount"].fillna("0").astype(float) * 100).round().astype(np.int64),
        }
    )
    out = out.dropna(subset=["recorded_at"])  # a timestamp no format parses: not usable
    out["day"] = out["recorded_at"].dt.normalize()
    return out


EVENT_COLUMNS = ["event_id", "event_at", "event_type", "customer_id", "session_id", "channel"]


def load_events(landing: Path) -> pd.DataFrame:
    """Every parseable event once (first occurrence), file by file to keep memory flat."""
    frames = []
    for path in sorted((landing / "events").glob("*.jsonl")):
        records = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(tuple(record.get(c) for c in EVENT_COLUMNS))
        frames.append(pd.DataFrame.from_records(records, columns=EVENT_COLUMNS).astype("string[pyarrow]"))
    events = pd.concat(frames, ignore_index=True).drop_duplicates("event_id", keep="first")
    events["event_at"] = _utc(events["event_at"])
    events["channel"] = events["channel"].fillna("direct")
    return events


def load_users(landing: Path) -> pd.DataFrame:
    users = _read_csvs(landing / "users", []).dropna(subset=["customer_id"])
    return users.drop_duplicates("customer_id", keep="first")


def load_spend(landing: Path) -> pd.DataFrame:
    spend = _read_csvs(landing / "marketing_spend", []).dropna(subset=["spend_date", "channel", "campaign", "spend"])
    spend = spend.drop_duplicates(["spend_date", "channel", "campaign"], keep="last")
    spend["spend_cents"] = (spend["spend"].astype(float) * 100).round().astype(np.int64)
    spend["day"] = pd.to_datetime(spend["spend_date"])
    return spend


def daily_kpis(orders: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    sale = orders["status"] == "completed"
    ret = orders["status"] == "returned"
    o = orders.assign(
        gross=np.where(sale, orders["quantity"] * orders["price_cents"], 0),
        disc=np.where(sale, orders["discount_cents"], 0),
        refund=np.where(ret, -(orders["quantity"] * orders["price_cents"] - orders["discount_cents"]), 0),
    )
    o["net"] = o["gross"] - o["disc"] - o["refund"]
    by_day = o.groupby("day").agg(
        gross=("gross", "sum"), disc=("disc", "sum"), refund=("refund", "sum"), net=("net", "sum")
    )
    sales = o[sale]
    by_day["orders"] = sales.groupby("day")["order_id"].nunique()
    by_day["buyers"] = sales.dropna(subset=["customer_id"]).groupby("day")["customer_id"].nunique()
    by_day = by_day.fillna(0)
    # AOV in cents, rounded half up (exact decimal arithmetic, as money is rounded).
    by_day["aov"] = [
        float((Decimal(int(s)) / Decimal(int(n)) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        if n
        else np.nan
        for s, n in zip(by_day["gross"] - by_day["disc"], by_day["orders"])
    ]
    known = sales.dropna(subset=["customer_id"])
    first = known.groupby("customer_id")["day"].min()
    by_day["new_customers"] = first.value_counts().reindex(by_day.index).fillna(0)
    buyer_days = known[["customer_id", "day"]].drop_duplicates()
    buyer_days = buyer_days.assign(first=buyer_days["customer_id"].map(first))
    returning = buyer_days[buyer_days["first"] < buyer_days["day"]].groupby("day").size()
    by_day["repurchase_rate"] = returning.reindex(by_day.index).fillna(0) / by_day["buyers"]
    active = events.dropna(subset=["customer_id"]).assign(day=lambda e: e["event_at"].dt.normalize())
    by_day["active_users"] = active.groupby("day")["customer_id"].nunique().reindex(by_day.index).fillna(0)
    return by_day


def monthly_retention(orders: pd.DataFrame) -> pd.DataFrame:
    known = orders[(orders["status"] == "completed") & orders["customer_id"].notna()]
    month = known["day"].dt.to_period("M")
    first = month.groupby(known["customer_id"]).min()
    active = pd.DataFrame({"customer_id": known["customer_id"], "month": month}).drop_duplicates()
    active["cohort"] = active["customer_id"].map(first)
    active["period"] = (active["month"] - active["cohort"]).apply(lambda x: x.n)
    sizes = first.value_counts()
    table = active.groupby(["cohort", "period"])["customer_id"].nunique().rename("active").reset_index()
    table["size"] = table["cohort"].map(sizes)
    table["retention"] = table["active"] / table["size"]
    table["cohort"] = table["cohort"].dt.start_time
    return table


def channel_cac_roas(
    orders: pd.DataFrame, events: pd.DataFrame, users: pd.DataFrame, spend: pd.DataFrame, channel: str
) -> pd.DataFrame:
    """Per day for one channel: spend, new customers (first touch), CAC, last-touch revenue and ROAS."""
    acq = users.set_index("customer_id")["acquisition_channel"]
    known = orders[(orders["status"] == "completed") & orders["customer_id"].notna()]
    first = known.groupby("customer_id")["day"].min()
    new = first[first.index.map(lambda c: acq.get(c)) == channel].value_counts()

    ev = events.sort_values(["event_at", "event_id"])
    sessions = ev.groupby("session_id").agg(
        customer_id=("customer_id", "max"), started_at=("event_at", "min"), channel=("channel", "first")
    )
    sessions = sessions.dropna(subset=["customer_id"]).sort_values("started_at")
    sales = orders[orders["status"] == "completed"]
    per_order = (
        sales.assign(value=sales["quantity"] * sales["price_cents"] - sales["discount_cents"])
        .groupby("order_id")
        .agg(
            customer_id=("customer_id", "first"),
            ordered_at=("ordered_at", "min"),
            day=("day", "first"),
            value=("value", "sum"),
        )
        .reset_index()
    )
    with_customer = per_order.dropna(subset=["customer_id"]).sort_values("ordered_at")
    with_customer["customer_id"] = with_customer["customer_id"].astype(object)
    sessions["customer_id"] = sessions["customer_id"].astype(object)
    sessions["channel"] = sessions["channel"].astype(object)
    touched = pd.merge_asof(
        with_customer,
        sessions.rename(columns={"channel": "touch"}),
        left_on="ordered_at",
        right_on="started_at",
        by="customer_id",
        direction="backward",
    )
    too_old = touched["started_at"].dt.normalize() < touched["day"] - pd.Timedelta(days=6)
    touched.loc[too_old, "touch"] = None
    touched["touch"] = touched["touch"].fillna(touched["customer_id"].map(acq)).fillna("unknown")
    revenue = touched[touched["touch"] == channel].groupby("day")["value"].sum()

    sp = spend[spend["channel"] == channel].groupby("day")["spend_cents"].sum()
    out = pd.DataFrame({"spend": sp})
    out["new_customers"] = new.reindex(out.index).fillna(0)
    out["revenue_last_touch"] = revenue.reindex(out.index).fillna(0)
    out["cac"] = [
        float((Decimal(int(s)) / Decimal(int(n)) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        if n
        else np.nan
        for s, n in zip(out["spend"], out["new_customers"])
    ]
    out["roas"] = out["revenue_last_touch"] / out["spend"]
    return out
