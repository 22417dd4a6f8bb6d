"""The synthetic business: customers, products, marketing and their behaviour, one day at a time.

Everything is vectorised with numpy and driven by one seeded generator, so a seed fixes the
output byte for byte. State is per customer and per product, never per event: memory grows with
the customer base, not with the number of days simulated.

Behaviour that later layers are meant to find:
- weekly (weekend) and yearly seasonality in visits, orders and spend;
- acquisition channels with different costs and customer quality;
- churn whose daily hazard rises with low engagement, long recency, unresolved complaints and
  low NPS (so retention is learnable);
- demand per product driven by price, promotions, seasonality and stock-outs;
- A/B experiments on checkout conversion with a known true effect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHANNELS = ["organic", "paid_search", "social_ads", "affiliate", "referral"]
PAID_CHANNELS = ["paid_search", "social_ads", "affiliate"]
# Customer quality (engagement multiplier) and daily budget per unit of scale, per channel.
CHANNEL_QUALITY = {"organic": 1.0, "paid_search": 1.1, "social_ads": 0.75, "affiliate": 0.65, "referral": 1.35}
CHANNEL_BUDGET = {"paid_search": 420.0, "social_ads": 300.0, "affiliate": 160.0}
CHANNEL_CPM = {"paid_search": 9.0, "social_ads": 4.0, "affiliate": 2.5}
CHANNEL_CTR = {"paid_search": 0.035, "social_ads": 0.012, "affiliate": 0.008}
CHANNEL_CVR = {"paid_search": 0.008, "social_ads": 0.010, "affiliate": 0.012}
CAMPAIGNS = {c: [f"{c}_brand", f"{c}_prospecting"] for c in PAID_CHANNELS}
SCENES = ["transaction", "social", "content"]
PLATFORMS = ["web", "app", "mini_program"]
CATEGORIES = ["apparel", "electronics", "home", "beauty", "grocery"]
CITIES = ["Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Hangzhou", "Chengdu", "Wuhan", "Nanjing"]
TICKET_CATEGORIES = ["delivery_delay", "defective_item", "billing", "other"]
NPS_COMMENTS = {
    "detractor": ["delivery was late", "item broke quickly", "support never answered", ""],
    "passive": ["ok overall", "fine", ""],
    "promoter": ["love it", "fast delivery, great quality", "will buy again", ""],
}


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    start: dt.date
    end: dt.date
    relative_effect: float  # true relative lift of checkout -> purchase conversion in treatment


@dataclass
class DayOutput:
    """The rows the business produced on one day, per source, as typed DataFrames."""

    day: dt.date
    frames: dict[str, pd.DataFrame]


def stable_unit(text: str) -> float:
    """A deterministic number in [0, 1) for a string (used for experiment bucketing)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Business:
    """The simulated company. Call :meth:`simulate_day` for consecutive days."""

    def __init__(
        self, start: dt.date, end: dt.date, seed: int, scale: float, drivers: bool = True, products: int | None = None
    ) -> None:
        self.start, self.end, self.scale, self.drivers = start, end, scale, drivers
        self.rng = np.random.default_rng(seed)
        self._init_products(products)
        self._init_customers()
        span = (end - start).days + 1
        self.experiments = [
            Experiment("exp_checkout_redesign", start + dt.timedelta(days=min(7, span // 4)), end, 0.20),
            Experiment("exp_banner_color", start + dt.timedelta(days=min(14, span // 3)), end, 0.0),
        ]
        self.assigned: set[tuple[str, int]] = set()
        self.pending_returns: dict[dt.date, list[pd.DataFrame]] = {}
        self.pending_nps: dict[dt.date, list[np.ndarray]] = {}
        self.complaint_spike_days: list[str] = []
        self.next_ids = {"line": 1, "order": 1, "event": 1, "ticket": 1, "nps": 1, "anon": 1}

    # ---------------------------------------------------------------- set-up
    def _init_products(self, products: int | None) -> None:
        rng = self.rng
        # The catalogue grows with the square root of the customer base unless its size is given.
        n = int(products) if products else int(max(20, round(40 * self.scale**0.5)))
        self.n_products = n
        self.product_ids = np.array([f"P{i:05d}" for i in range(1, n + 1)])
        self.category = rng.integers(0, len(CATEGORIES), n)
        base_price = np.round(np.exp(rng.normal(3.6, 0.7, n)), 2) + 0.99
        self.ref_price = base_price.copy()
        self.list_price = base_price.copy()
        self.unit_cost = np.round(base_price * rng.uniform(0.35, 0.7, n), 2)
        self.popularity = rng.pareto(1.6, n) + 0.3
        self.elasticity = rng.uniform(1.0, 3.0, n)
        # Yearly seasonality differs per category (peak day-of-year and amplitude).
        self.cat_peak = rng.uniform(0, 365, len(CATEGORIES))
        self.cat_amp = rng.uniform(0.1, 0.45, len(CATEGORIES))
        self.promo_until = np.full(n, -1)
        self.promo_pct = np.zeros(n)
        self.on_hand = np.round(self.popularity * 40 * self.scale + 20).astype(np.int64)
        self.base_reorder_point = np.round(self.popularity * 8 * self.scale + 5).astype(np.int64)
        self.reorder_point = self.base_reorder_point.copy()
        self.demand_ewma = np.zeros(self.n_products)  # units sold per day, smoothed (the buyer's view)
        self.inbound: dict[int, np.ndarray] = {}

    def _init_customers(self) -> None:
        cap = int(1000 + 4000 * self.scale)
        self.cap = cap
        self.n = 0
        self.keys = np.empty(0, dtype=object)
        self.c_signup = np.zeros(cap, dtype=np.int32)
        self.c_channel = np.zeros(cap, dtype=np.int8)
        self.c_engagement = np.zeros(cap)
        self.c_scene = np.zeros((cap, 3))
        self.c_satisfaction = np.zeros(cap)
        self.c_alive = np.zeros(cap, dtype=bool)
        self.c_churn_day = np.full(cap, -1, dtype=np.int32)
        self.c_last_order = np.full(cap, -1, dtype=np.int32)
        self.c_last_visit = np.full(cap, -1, dtype=np.int32)
        self.c_orders = np.zeros(cap, dtype=np.int32)
        self.c_open_tickets = np.zeros(cap, dtype=np.int16)
        self.c_nps = np.full(cap, np.nan)

    def _grow(self, extra: int) -> None:
        if self.n + extra <= self.cap:
            return
        new_cap = max(self.cap * 2, self.n + extra)
        for name in [a for a in vars(self) if a.startswith("c_")]:
            arr = getattr(self, name)
            fill = -1 if name in {"c_churn_day", "c_last_order", "c_last_visit"} else 0
            grown = np.full((new_cap,) + arr.shape[1:], fill, dtype=arr.dtype)
            if name == "c_nps":
                grown[:] = np.nan
            grown[: self.n] = arr[: self.n]
            setattr(self, name, grown)
        self.cap = new_cap

    def _ids(self, kind: str, count: int, prefix: str, width: int) -> np.ndarray:
        first = self.next_ids[kind]
        self.next_ids[kind] = first + count
        return np.array([f"{prefix}{i:0{width}d}" for i in range(first, first + count)], dtype=object)

    # ---------------------------------------------------------------- helpers
    def seasonality(self, day: dt.date) -> float:
        if not self.drivers:
            return 1.0
        weekly = [0.92, 0.9, 0.93, 0.97, 1.05, 1.2, 1.15][day.weekday()]
        doy = day.timetuple().tm_yday
        yearly = 1.0 + 0.18 * np.sin(2 * np.pi * (doy - 80) / 365.25)
        if (day.month, day.day) in {(6, 18), (11, 11), (12, 12)}:
            yearly *= 1.8  # shopping festivals
        return float(weekly * yearly)

    def _times(self, day: dt.date, count: int, weights_evening: bool = True) -> np.ndarray:
        """Random seconds within the day, busier in the evening."""
        hours = self.rng.normal(15.5, 4.5, count) % 24 if weights_evening else self.rng.uniform(0, 24, count)
        secs = np.floor(hours * 3600).astype(np.int64)
        base = np.datetime64(day.isoformat(), "s")
        return base + secs.astype("timedelta64[s]")

    # ---------------------------------------------------------------- one day
    def simulate_day(self, day: dt.date) -> DayOutput:
        rng = self.rng
        d = (day - self.start).days
        season = self.seasonality(day)
        frames: dict[str, pd.DataFrame] = {}

        # Products: price moves and promotions, then the daily catalogue snapshot.
        move = rng.random(self.n_products) < 0.01
        self.list_price = np.where(
            move, np.round(self.ref_price * rng.uniform(0.85, 1.15, self.n_products), 2), self.list_price
        )
        start_promo = (self.promo_until < d) & (rng.random(self.n_products) < 0.03)
        self.promo_until = np.where(start_promo, d + rng.integers(3, 10, self.n_products), self.promo_until)
        self.promo_pct = np.where(start_promo, rng.choice([0.1, 0.2, 0.3], self.n_products), self.promo_pct)
        on_promo = self.promo_until >= d
        self.promo_pct = np.where(on_promo, self.promo_pct, 0.0)
        selling_price = np.round(self.list_price * (1 - self.promo_pct), 2)
        frames["products"] = pd.DataFrame(
            {
                "product_id": self.product_ids,
                "product_name": [
                    f"{CATEGORIES[c].title()} item {pid[1:]}" for c, pid in zip(self.category, self.product_ids)
                ],
                "category": np.array(CATEGORIES)[self.category],
                "list_price": self.list_price,
                "unit_cost": self.unit_cost,
                "on_promotion": on_promo,
                "promo_discount_pct": self.promo_pct,
                "snapshot_date": day,
            }
        )

        # Marketing: paid spend buys clicks that convert into sign-ups.
        spend_rows, new_by_channel = [], dict.fromkeys(CHANNELS, 0)
        for ch in PAID_CHANNELS:
            for k, campaign in enumerate(CAMPAIGNS[ch]):
                budget = CHANNEL_BUDGET[ch] * self.scale * (0.6 if k == 0 else 0.4)
                spend = round(float(budget * season * rng.lognormal(0, 0.12)), 2)
                impressions = int(spend / CHANNEL_CPM[ch] * 1000)
                clicks = int(rng.binomial(impressions, CHANNEL_CTR[ch]))
                signups = int(rng.binomial(clicks, CHANNEL_CVR[ch] * (1.2 if k == 0 else 1.0)))
                new_by_channel[ch] += signups
                spend_rows.append((day, ch, campaign, spend, impressions, clicks))
        frames["marketing_spend"] = pd.DataFrame(
            spend_rows, columns=["spend_date", "channel", "campaign", "spend", "impressions", "clicks"]
        )
        new_by_channel["organic"] = int(rng.poisson(12 * self.scale * season))
        new_by_channel["referral"] = int(rng.poisson(3 * self.scale * season + 0.001 * self.c_alive.sum()))

        # New customers.
        n_new = sum(new_by_channel.values())
        self._grow(n_new)
        lo, hi = self.n, self.n + n_new
        ch_idx = np.concatenate([np.full(new_by_channel[c], i, dtype=np.int8) for i, c in enumerate(CHANNELS)])
        quality = np.array([CHANNEL_QUALITY[c] for c in CHANNELS])[ch_idx]
        self.c_signup[lo:hi] = d
        self.c_channel[lo:hi] = ch_idx
        self.c_engagement[lo:hi] = rng.gamma(2.0, 0.5, n_new) * quality if self.drivers else 1.0
        self.c_scene[lo:hi] = rng.dirichlet([2.0, 1.0, 1.0], n_new)
        self.c_satisfaction[lo:hi] = rng.normal(0, 1, n_new)
        self.c_alive[lo:hi] = True
        self.n = hi
        new_ids = np.arange(lo, hi)
        signup_ts = self._times(day, n_new)
        # Customer ids are formatted once, when customers join, not every day for everyone.
        self.keys = np.concatenate([self.keys, np.array([f"C{i + 1:07d}" for i in new_ids], dtype=object)])
        cust_key = self.keys
        frames["users"] = pd.DataFrame(
            {
                "customer_id": cust_key[new_ids],
                "signed_up_at": signup_ts,
                "email": [f"user{i + 1}@example-mail.com" for i in new_ids],
                "phone": [f"+86 13{(i * 7919) % 10**9:09d}" for i in new_ids],
                "city": np.array(CITIES)[rng.integers(0, len(CITIES), n_new)],
                "acquisition_channel": np.array(CHANNELS)[ch_idx],
            }
        )

        # Visits: engaged, recently active customers visit more, more so at weekends.
        alive = np.flatnonzero(self.c_alive[: self.n])
        recency = np.where(self.c_last_order[alive] >= 0, d - self.c_last_order[alive], 60)
        p_visit = (
            np.clip(0.12 * self.c_engagement[alive] * season * (1 + 0.6 * (recency < 14)), 0, 0.95)
            if self.drivers
            else np.full(alive.size, 0.15)
        )
        visitors = alive[rng.random(alive.size) < p_visit]
        visitors = np.union1d(visitors, new_ids)  # sign-up day is a visit
        self.c_last_visit[visitors] = d
        n_vis = visitors.size

        # Funnel: cart -> checkout -> purchase; experiments act on checkout -> purchase.
        eng = self.c_engagement[visitors]
        scene_w = self.c_scene[visitors]
        p_cart = np.clip(0.28 + 0.15 * scene_w[:, 0] + 0.05 * np.log1p(eng), 0, 0.9)
        cart = rng.random(n_vis) < p_cart
        checkout = cart & (rng.random(n_vis) < 0.7)
        p_buy = np.full(n_vis, 0.52)
        assign_rows = []
        cust_ids = cust_key[visitors]
        checkout_idx = np.flatnonzero(checkout)
        ts_visit = self._times(day, n_vis)
        for exp in self.experiments:
            if not (exp.start <= day <= exp.end):
                continue
            for j in checkout_idx:
                cid = cust_ids[j]
                treat = stable_unit(f"{exp.experiment_id}:{cid}") < 0.5
                if treat:
                    p_buy[j] *= 1 + exp.relative_effect
                if (exp.experiment_id, visitors[j]) not in self.assigned:
                    self.assigned.add((exp.experiment_id, int(visitors[j])))
                    assign_rows.append((exp.experiment_id, "treatment" if treat else "control", cid, ts_visit[j]))
        buy = checkout & (rng.random(n_vis) < np.clip(p_buy, 0, 1))
        frames["experiments"] = pd.DataFrame(
            assign_rows, columns=["experiment_id", "variant", "customer_id", "assigned_at"]
        ).astype({"assigned_at": "datetime64[s]"})

        # Anonymous traffic (prospects who do not sign up today) and guest checkouts.
        n_anon = int(rng.poisson(30 * self.scale * season))
        n_guest = int(rng.poisson(3 * self.scale * season))

        # Orders.
        buyers = visitors[buy]
        buyer_ts = ts_visit[buy] + rng.integers(60, 1800, buyers.size).astype("timedelta64[s]")
        buyer_ts = np.minimum(buyer_ts, np.datetime64(day.isoformat(), "s") + np.timedelta64(86399, "s"))
        guest_ts = self._times(day, n_guest)
        order_cust = np.concatenate([cust_key[buyers], np.full(n_guest, None, dtype=object)])
        order_ts = np.concatenate([buyer_ts, guest_ts])
        n_orders = order_cust.size
        order_ids = self._ids("order", n_orders, "O", 8)
        n_lines = 1 + rng.binomial(2, 0.3, n_orders)
        line_order = np.repeat(np.arange(n_orders), n_lines)
        doy = day.timetuple().tm_yday
        cat_season = 1 + self.cat_amp * np.cos(2 * np.pi * (doy - self.cat_peak) / 365.25)
        weight = (
            (
                self.popularity
                * cat_season[self.category]
                * np.exp(-self.elasticity * (selling_price / self.ref_price - 1))
                * (1 + 1.5 * on_promo)
            )
            if self.drivers
            else self.popularity.copy()
        )
        weight = weight / weight.sum()
        line_prod = rng.choice(self.n_products, size=line_order.size, p=weight)
        qty = 1 + rng.poisson(0.35, line_order.size)
        # Stock-outs: lines beyond what is on hand are lost sales.
        keep = np.ones(line_order.size, dtype=bool)
        shuffle = rng.permutation(line_order.size)
        sorted_idx = shuffle[np.argsort(line_prod[shuffle], kind="stable")]
        cum = np.zeros(line_order.size, dtype=np.int64)
        prod_sorted = line_prod[sorted_idx]
        qty_sorted = qty[sorted_idx]
        csum = np.cumsum(qty_sorted)
        starts = np.searchsorted(prod_sorted, prod_sorted, side="left")
        before = np.where(starts > 0, csum[starts - 1], 0)
        cum[sorted_idx] = csum - before
        keep = cum <= self.on_hand[line_prod]
        sold = np.bincount(line_prod[keep], weights=qty[keep], minlength=self.n_products).astype(np.int64)
        self.on_hand -= sold
        self.demand_ewma = 0.9 * self.demand_ewma + 0.1 * sold
        line_order, line_prod, qty = line_order[keep], line_prod[keep], qty[keep]
        has_order = np.bincount(line_order, minlength=n_orders) > 0
        coupon = rng.random(n_orders) < 0.12
        unit_price = selling_price[line_prod]
        discount = np.where(coupon[line_order], np.round(0.1 * qty * unit_price, 2), 0.0)
        status = np.where(rng.random(line_order.size) < 0.02, "cancelled", "completed")
        n_l = line_order.size
        orders = pd.DataFrame(
            {
                "order_line_id": self._ids("line", n_l, "L", 9),
                "order_id": order_ids[line_order],
                "customer_id": order_cust[line_order],
                "ordered_at": order_ts[line_order],
                "recorded_at": order_ts[line_order],
                "status": status,
                "product_id": self.product_ids[line_prod],
                "quantity": qty,
                "unit_price": unit_price,
                "discount_amount": discount,
                "order_channel": np.array(PLATFORMS)[rng.integers(0, 3, n_l)],
                "original_line_id": np.full(n_l, None, dtype=object),
            }
        )
        # Customer state after purchases (only orders that kept a line count).
        real_buyers = buyers[has_order[: buyers.size]]
        self.c_last_order[real_buyers] = d
        self.c_orders[real_buyers] += 1
        # Returns come back 3-14 days later as negative lines.
        completed = orders[orders["status"] == "completed"]
        ret_p = np.where(np.isin(completed["product_id"].to_numpy(), self.product_ids[self.category == 0]), 0.10, 0.04)
        returned = completed[rng.random(len(completed)) < ret_p]
        lag = rng.integers(3, 15, len(returned))
        for k in np.unique(lag):
            rday = day + dt.timedelta(days=int(k))
            self.pending_returns.setdefault(rday, []).append(returned[lag == k])
        due = self.pending_returns.pop(day, [])
        if due:
            ret = pd.concat(due, ignore_index=True)
            ret["original_line_id"] = ret["order_line_id"]
            ret["order_line_id"] = self._ids("line", len(ret), "L", 9)
            ret["recorded_at"] = self._times(day, len(ret))
            ret["status"] = "returned"
            ret["quantity"] = -ret["quantity"].astype(np.int64)
            ret["discount_amount"] = -ret["discount_amount"].astype(float)
            back = ret.groupby("product_id")["quantity"].sum()
            idx = np.searchsorted(self.product_ids, back.index.to_numpy())
            self.on_hand[idx] += (-back.to_numpy()).astype(np.int64)
            orders = pd.concat([orders, ret], ignore_index=True)
        frames["orders"] = orders.astype(
            {
                "ordered_at": "datetime64[s]",
                "recorded_at": "datetime64[s]",
                "quantity": np.int64,
                "unit_price": float,
                "discount_amount": float,
            }
        )

        # Events: one session per visitor plus anonymous sessions.
        frames["events"] = self._events(
            day, d, visitors, cust_key, ts_visit, cart, checkout, buy, n_anon, new_ids, signup_ts
        )

        # Support tickets: a share of today's buyers complain; rare spike days triple it.
        spike = rng.random() < 0.04
        if spike:
            self.complaint_spike_days.append(day.isoformat())
        p_ticket = 0.05 * (3.0 if spike else 1.0)
        complainers = real_buyers[rng.random(real_buyers.size) < p_ticket]
        resolved = rng.random(complainers.size) < 0.7
        self.c_open_tickets[complainers[~resolved]] += 1
        self.c_satisfaction[complainers] -= np.where(resolved, 0.3, 1.0)
        frames["support_tickets"] = pd.DataFrame(
            {
                "ticket_id": self._ids("ticket", complainers.size, "T", 7),
                "customer_id": cust_key[complainers],
                "created_at": self._times(day, complainers.size),
                "category": np.array(TICKET_CATEGORIES)[rng.integers(0, 4, complainers.size)],
                "priority": np.where(rng.random(complainers.size) < 0.2, "high", "normal"),
                "status": np.where(resolved, "resolved", "open"),
            }
        )

        # NPS: a share of buyers answer a survey a week later.
        surveyed = real_buyers[rng.random(real_buyers.size) < 0.12]
        self.pending_nps.setdefault(day + dt.timedelta(days=7), []).append(surveyed)
        answering = np.concatenate(self.pending_nps.pop(day, [np.array([], dtype=np.int64)])).astype(np.int64)
        score = np.clip(
            np.round(
                rng.normal(8.1 + 1.1 * self.c_satisfaction[answering] - 1.5 * self.c_open_tickets[answering], 1.4)
            ),
            0,
            10,
        ).astype(np.int64)
        self.c_nps[answering] = score
        bucket = np.where(score <= 6, "detractor", np.where(score <= 8, "passive", "promoter"))
        comments = [NPS_COMMENTS[b][int(rng.integers(0, len(NPS_COMMENTS[b])))] for b in bucket]
        frames["nps_surveys"] = pd.DataFrame(
            {
                "response_id": self._ids("nps", answering.size, "R", 7),
                "customer_id": cust_key[answering],
                "responded_at": self._times(day, answering.size),
                "score": score,
                "comment": [c if c else None for c in comments],
            }
        )

        # Inventory: receive what arrives today, reorder what runs low (lead time 3-7 days). The
        # reorder point follows recent sales (ten days of cover), so stock keeps up with growth.
        self.reorder_point = np.maximum(self.base_reorder_point, np.ceil(10 * self.demand_ewma).astype(np.int64))
        received = self.inbound.pop(d, np.zeros(self.n_products, dtype=np.int64))
        self.on_hand += received
        pending = sum(self.inbound.values()) if self.inbound else np.zeros(self.n_products, dtype=np.int64)
        reorder = (self.on_hand <= self.reorder_point) & (pending == 0) & (rng.random(self.n_products) < 0.8)
        for p in np.flatnonzero(reorder):
            arrive = d + int(rng.integers(3, 8))
            self.inbound.setdefault(arrive, np.zeros(self.n_products, dtype=np.int64))[p] += int(
                self.reorder_point[p] * 4 + 10
            )
        frames["inventory"] = pd.DataFrame(
            {
                "snapshot_date": day,
                "product_id": self.product_ids,
                "on_hand_units": self.on_hand.copy(),
                "received_units": received,
            }
        )

        # Churn: the daily hazard rises with low engagement, recency, open complaints and low NPS.
        alive = np.flatnonzero(self.c_alive[: self.n])
        last = np.maximum(self.c_last_order[alive], self.c_signup[alive])
        recency = np.minimum(d - last, 120)
        nps_term = np.nan_to_num(self.c_nps[alive] - 7.0, nan=0.0)
        hazard = 0.004 * np.exp(
            -0.9 * (self.c_engagement[alive] - 1.0)
            + 0.012 * recency
            + 0.5 * self.c_open_tickets[alive]
            - 0.18 * nps_term
            - 0.25 * self.c_satisfaction[alive]
        )
        if not self.drivers:
            hazard = np.zeros(alive.size)  # nobody churns: every customer buys at the same constant rate
        churned = alive[rng.random(alive.size) < np.clip(hazard, 0, 0.5)]
        self.c_alive[churned] = False
        self.c_churn_day[churned] = d
        return DayOutput(day=day, frames=frames)

    def _events(self, day, d, visitors, cust_key, ts_visit, cart, checkout, buy, n_anon, new_ids, signup_ts):
        rng = self.rng
        n_vis = visitors.size
        n_views = 1 + rng.poisson(1.5 + 1.5 * np.sqrt(self.c_engagement[visitors]))
        scene_w = self.c_scene[visitors]
        # Per visitor: views (scene by preference) + funnel events; per anonymous: views only.
        owner = np.repeat(np.arange(n_vis), n_views)
        u = rng.random(owner.size)
        cw = np.cumsum(scene_w[owner], axis=1)
        scene = (u[:, None] > cw).sum(axis=1).clip(0, 2)
        view_type = np.array(["product_view", "share", "content_view"])[scene]
        social_comment = (scene == 1) & (rng.random(owner.size) < 0.35)
        view_type = np.where(social_comment, "comment", view_type)
        offsets = np.concatenate([np.arange(k) for k in n_views]) * rng.integers(20, 120, owner.size)
        parts_owner = [owner, np.arange(n_vis)]
        parts_type = [view_type, np.full(n_vis, "page_view", dtype=object)]
        parts_scene = [scene, np.zeros(n_vis, dtype=np.int64)]
        parts_off = [offsets + 30, np.zeros(n_vis, dtype=np.int64)]
        for mask, name, off in [(cart, "add_to_cart", 900), (checkout, "checkout", 1000), (buy, "purchase", 1100)]:
            idx = np.flatnonzero(mask)
            parts_owner.append(idx)
            parts_type.append(np.full(idx.size, name, dtype=object))
            parts_scene.append(np.zeros(idx.size, dtype=np.int64))
            parts_off.append(np.full(idx.size, off))
        is_new = np.isin(visitors, new_ids)
        new_idx = np.flatnonzero(is_new)
        parts_owner.append(new_idx)
        parts_type.append(np.full(new_idx.size, "sign_up", dtype=object))
        parts_scene.append(np.zeros(new_idx.size, dtype=np.int64))
        parts_off.append(np.full(new_idx.size, 5))
        own = np.concatenate(parts_owner)
        etype = np.concatenate(parts_type).astype(object)
        esc = np.concatenate(parts_scene)
        eoff = np.concatenate(parts_off)
        base_ts = ts_visit.copy()
        # New customers' session starts at their sign-up time.
        pos = np.searchsorted(new_ids, visitors[new_idx])
        base_ts[new_idx] = signup_ts[pos]
        ts = base_ts[own] + eoff.astype("timedelta64[s]")
        last_sec = np.datetime64(day.isoformat(), "s") + np.timedelta64(86399, "s")
        ts = np.minimum(ts, last_sec)
        channel_of = np.array(CHANNELS + ["direct"])
        vis_channel = np.where(rng.random(n_vis) < 0.5, self.c_channel[visitors], len(CHANNELS))
        sessions = np.array([f"S{d:04d}-{i:07d}" for i in range(n_vis)], dtype=object)
        # Anonymous sessions.
        anon_views = 1 + rng.poisson(1.2, n_anon)
        a_owner = np.repeat(np.arange(n_anon), anon_views)
        a_ts = self._times(day, n_anon)[a_owner] + rng.integers(0, 600, a_owner.size).astype("timedelta64[s]")
        a_ts = np.minimum(a_ts, last_sec)
        anon_ids = self._ids("anon", n_anon, "A", 8)
        n_ev = own.size + a_owner.size
        events = pd.DataFrame(
            {
                "event_id": self._ids("event", n_ev, "E", 10),
                "event_at": np.concatenate([ts, a_ts]),
                "event_type": np.concatenate([etype, np.full(a_owner.size, "page_view", dtype=object)]),
                "customer_id": np.concatenate([cust_key[visitors][own], np.full(a_owner.size, None, dtype=object)]),
                "anonymous_id": np.concatenate([np.full(own.size, None, dtype=object), anon_ids[a_owner]]),
                "session_id": np.concatenate(
                    [sessions[own], np.array([f"S{d:04d}-A{i:07d}" for i in a_owner], dtype=object)]
                ),
                "scene": np.concatenate([np.array(SCENES)[esc], np.full(a_owner.size, "content", dtype=object)]),
                "channel": np.concatenate(
                    [channel_of[vis_channel][own], channel_of[rng.integers(0, len(channel_of), n_anon)][a_owner]]
                ),
                "platform": np.concatenate(
                    [
                        np.array(PLATFORMS)[rng.integers(0, 3, n_vis)][own],
                        np.array(PLATFORMS)[rng.integers(0, 3, n_anon)][a_owner],
                    ]
                ),
            }
        )
        return events.sort_values(["event_at", "event_id"], kind="stable").reset_index(drop=True)

    def customers_truth(self) -> pd.DataFrame:
        """Ground truth per customer: latent engagement and the day churn happened (if it did)."""
        n = self.n
        churn = [(self.start + dt.timedelta(days=int(x))).isoformat() if x >= 0 else None for x in self.c_churn_day[:n]]
        return pd.DataFrame(
            {
                "customer_id": self.keys[:n],
                "acquisition_channel": np.array(CHANNELS)[self.c_channel[:n]],
                "engagement": np.round(self.c_engagement[:n], 6),
                "churned_on": churn,
                "orders": self.c_orders[:n],
            }
        )
