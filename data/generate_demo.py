"""Generate the shipped demo data of "Demo Retail Co.": the transaction export, the
CRM customer master and the results of one campaign.

Demo Retail Co. is a fictional Chinese-owned home-goods retailer selling to
individuals, VIP members and businesses (hotels, offices, property managers)
through online, store and phone channels. The export covers 2024-01-01 to
2025-12-31, one row per order line, plus return rows and a few blemishes that
real exports have (walk-in sales without a customer ID, free samples). The customer
master (credit, overdue, owner, industry, satisfaction, referrals, red/black list,
sign-up date) follows the customers' behaviour and has blemishes of its own; the
campaign (treatment and a random control group) has a true uplift that differs by
tier (``PLANTED_RESPONSE``, ``PLANTED_CONVERSION``, ``CONVERTER_MEDIAN``).

Usage::

    python data/generate_demo.py                 # writes data/demo_transactions.csv,
                                                 # demo_customers.csv, demo_campaigns.csv
    python data/generate_demo.py --out x.csv --seed 7   # x.csv, x_customers.csv, x_campaigns.csv
    python data/generate_demo.py --summary       # also print the measured figures

The transactions' randomness comes from one ``numpy.random.default_rng(seed)``, drawn
in a fixed order; the master draws from ``default_rng([seed, 1])`` and the campaign
from ``default_rng([seed, 2])``, after the transactions are made, so that neither
changes a byte of the transactions. Files are written with fixed formatting, so the
same seed gives byte-identical files (for a given numpy version: numpy keeps its
bit-generator streams stable, but may rarely change a distribution's algorithm).

This script depends only on numpy and pandas; it does not import ``tiering``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240101
DEFAULT_OUT = Path(__file__).resolve().parent / "demo_transactions.csv"

COLUMNS = [
    "order_id",
    "order_date",
    "customer_id",
    "customer_name",
    "region",
    "customer_type",
    "channel",
    "product_category",
    "quantity",
    "unit_price",
    "amount",
]

START = pd.Timestamp("2024-01-01")
END = pd.Timestamp("2025-12-31")
N_DAYS = (END - START).days + 1  # 731 (2024 is a leap year)

N_CUSTOMERS = 3000
# customer index (in customer-number order) -> name; see make_customers
HOSTILE_NAMES = {17: '=HYPERLINK("http://example.com","x")', 42: "<script>alert(1)</script>"}
N_KEY_ACCOUNTS = 6  # a handful of very large business customers
FIRST_CUSTOMER_NUMBER = 1001  # IDs 001001 ... 004000: all have leading zeros

REGIONS = ["East", "South", "North", "Central", "West"]
REGION_P = [0.33, 0.25, 0.19, 0.14, 0.09]

TYPES = ["Individual", "VIP-member", "Business"]
TYPE_P = [0.62, 0.14, 0.24]

CHANNELS = ["Online", "Store", "Phone"]
# Channel mix by customer type (rows: TYPES order).
CHANNEL_P = np.array(
    [
        [0.52, 0.40, 0.08],  # Individual
        [0.40, 0.47, 0.13],  # VIP-member
        [0.38, 0.14, 0.48],  # Business
    ]
)
# Hour-of-day weights by channel (0..23).
_HOURS = np.arange(24)
HOUR_W = {
    "Online": np.where(_HOURS < 7, 0.15, 1.0) + np.where((_HOURS >= 19) & (_HOURS <= 23), 1.5, 0.0),
    "Store": np.where((_HOURS >= 10) & (_HOURS <= 21), 1.0, 0.0)
    + np.where((_HOURS >= 14) & (_HOURS <= 19), 0.6, 0.0),
    "Phone": np.where((_HOURS >= 9) & (_HOURS <= 17), 1.0, 0.0) * np.where(_HOURS == 12, 0.4, 1.0),
}

CATEGORIES = ["Furniture", "Bedding", "Kitchenware", "Lighting", "Decor", "Storage"]
CATEGORY_MEDIAN_PRICE = np.array([1500.0, 320.0, 120.0, 260.0, 140.0, 60.0])
CATEGORY_POPULARITY = np.array([0.12, 0.22, 0.24, 0.12, 0.16, 0.14])
SKUS_PER_CATEGORY = 40

# Chinese New Year's Day in the covered years.
CNY = [pd.Timestamp("2024-02-10"), pd.Timestamp("2025-01-29")]

# Name parts for synthetic customers (deterministic given the seed).
SURNAMES_PINYIN = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Luo",
    "Gao",
]
SURNAMES_HANZI = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "林",
    "罗",
    "高",
]
GIVEN_PINYIN = [
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Lei",
    "Qiang",
    "Yan",
    "Jun",
    "Yong",
    "Jie",
    "Tao",
    "Ming",
    "Chao",
    "Xiu",
    "Hua",
    "Ping",
    "Gang",
    "Hui",
    "Li",
    "Xiaoming",
    "Yuting",
    "Haoran",
    "Zihan",
    "Jiahui",
    "Yifan",
    "Xinyi",
    "Lingling",
]
GIVEN_HANZI = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "强",
    "艳",
    "军",
    "勇",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "平",
    "刚",
    "慧",
    "丽",
    "晓明",
    "雨婷",
    "浩然",
    "子涵",
    "佳慧",
    "一帆",
    "欣怡",
    "玲玲",
]
GIVEN_ENGLISH = [
    "Emily",
    "David",
    "Grace",
    "Kevin",
    "Linda",
    "Jason",
    "Vivian",
    "Eric",
    "Cindy",
    "Tony",
    "Amy",
    "Frank",
    "Helen",
    "Peter",
    "Sophie",
    "Leo",
]
COMPANY_STEMS = [
    "Huaxin",
    "Jinhai",
    "Hongyuan",
    "Evergreen",
    "Golden Bridge",
    "Tianrun",
    "Blue Harbor",
    "Minghui",
    "Sunrise",
    "Yongsheng",
    "Lotus",
    "Dongfang",
    "Silver Lake",
    "Xinda",
    "Pearl River",
    "Hengtai",
    "Jade Garden",
    "Baolong",
    "Orient Star",
    "Ruifeng",
    "Greenfield",
    "Kaiyuan",
    "Longmen",
    "Harmony",
]
COMPANY_NOUNS = [
    "Hotel",
    "Interiors",
    "Property Mgmt",
    "Trading",
    "Home Furnishing",
    "Apartments",
    "Office Supply",
    "Design Studio",
    "Hospitality",
    "Realty",
    "Catering",
    "Kindergarten",
]
COMPANY_SUFFIXES = ["Co., Ltd.", "Ltd.", "Group", "Co."]
CITIES_HANZI = ["上海", "杭州", "南京", "广州", "深圳", "成都", "武汉", "北京", "天津", "苏州"]
COMPANY_HANZI_STEMS = ["华美", "宏远", "锦江", "恒泰", "金海", "瑞丰", "东方", "新达"]
COMPANY_HANZI_NOUNS = ["酒店管理", "家居", "物业管理", "贸易", "装饰工程"]


@dataclass(frozen=True)
class Customers:
    """Customer attributes as parallel arrays (index = customer number - 1)."""

    ids: np.ndarray
    names: np.ndarray
    region: np.ndarray
    ctype: np.ndarray  # index into TYPES
    channel_pref: np.ndarray  # index into CHANNELS
    category_pref: np.ndarray  # (n, len(CATEGORIES)) probabilities
    acquired_day: np.ndarray  # day offset from START
    active_until: np.ndarray  # last day offset (inclusive) the customer can buy
    one_time: np.ndarray  # bool: buys exactly once
    rate: np.ndarray  # orders per (season-weighted) day after the first order
    order_value: np.ndarray  # median order value, CNY
    key_account: np.ndarray  # bool


def season_weights(ctype: int) -> np.ndarray:
    """Relative daily order intensity over the two years for a customer type (mean ~1)."""
    days = pd.date_range(START, END, freq="D")
    w = np.ones(len(days))
    month = days.month.to_numpy()
    dom = days.day.to_numpy()
    # Peak season: November-December, with the "Double 11" and "Double 12" spikes.
    w += 0.45 * np.isin(month, [11, 12])
    w += 1.6 * ((month == 11) & (dom >= 9) & (dom <= 11))
    w += 0.7 * ((month == 12) & (dom >= 10) & (dom <= 12))
    # Summer lull.
    w -= 0.30 * np.isin(month, [6, 7, 8])
    # Chinese New Year: stocking up three weeks before, holiday shutdown after.
    for cny in CNY:
        delta = (days - cny).days.to_numpy()
        w += 0.65 * ((delta >= -21) & (delta < -2))
        w -= 0.55 * ((delta >= 0) & (delta <= 6))
    # Weekday pattern: businesses buy on weekdays, private buyers more at weekends.
    weekend = days.day_of_week.to_numpy() >= 5
    w *= (
        np.where(weekend, 0.35, 1.15) if TYPES[ctype] == "Business" else np.where(weekend, 1.3, 0.9)
    )
    # Mild growth over the two years.
    w *= 1.0 + 0.12 * np.arange(len(days)) / len(days)
    return w / w.mean()


def make_customers(rng: np.random.Generator) -> Customers:
    n = N_CUSTOMERS
    ctype = rng.choice(len(TYPES), size=n, p=TYPE_P)
    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    channel_pref = np.array([rng.choice(len(CHANNELS), p=CHANNEL_P[t]) for t in ctype])
    category_pref = rng.dirichlet(CATEGORY_POPULARITY * 4.0, size=n)

    # Acquisition: a base of existing customers active from day one, the rest
    # acquired through the two years with more early than late.
    existing = rng.random(n) < 0.22
    acquired = np.where(
        existing, rng.integers(0, 30, size=n), (rng.beta(0.9, 1.5, size=n) * N_DAYS).astype(int)
    )
    acquired = np.clip(acquired, 0, N_DAYS - 1)

    # One-time buyers, churn and purchase rate (gamma: heterogeneous, heavy-tailed).
    one_time_p = np.array([0.22, 0.07, 0.13])[ctype]
    one_time = rng.random(n) < one_time_p
    churns = rng.random(n) < 0.65
    lifetime = rng.exponential(330.0, size=n)
    active_until = np.where(churns, acquired + lifetime, N_DAYS - 1).astype(int)
    active_until = np.clip(active_until, acquired, N_DAYS - 1)
    mean_rate = np.array([1 / 68, 1 / 42, 1 / 46])[ctype]  # orders per day
    shape = 2.0
    rate = rng.gamma(shape, 1.0 / shape, size=n) * mean_rate

    # Median order value: lognormal, business orders much larger.
    value_median = np.array([320.0, 850.0, 2300.0])[ctype]
    value_sigma = np.array([0.55, 0.55, 0.55])[ctype]
    order_value = value_median * np.exp(value_sigma * rng.standard_normal(n))

    # Key accounts: a few early, loyal, large business customers.
    biz_early = np.flatnonzero((ctype == 2) & (acquired < 120))
    key = np.zeros(n, dtype=bool)
    key[rng.choice(biz_early, size=N_KEY_ACCOUNTS, replace=False)] = True
    one_time[key] = False
    active_until[key] = N_DAYS - 1
    rate[key] = rng.uniform(1 / 14, 1 / 8, size=N_KEY_ACCOUNTS)
    order_value[key] = rng.uniform(6000, 12000, size=N_KEY_ACCOUNTS)

    # Customer numbers follow acquisition order (older customers have lower numbers).
    order = np.lexsort((np.arange(n), acquired))
    perm = lambda a: a[order]  # noqa: E731
    ctype, region, channel_pref = perm(ctype), perm(region), perm(channel_pref)
    category_pref, acquired, active_until = perm(category_pref), perm(acquired), perm(active_until)
    one_time, rate, order_value, key = perm(one_time), perm(rate), perm(order_value), perm(key)

    ids = np.array([f"{FIRST_CUSTOMER_NUMBER + i:06d}" for i in range(n)], dtype=object)
    names = np.array([make_name(rng, TYPES[t]) for t in ctype], dtype=object)
    # Two hostile names, on purpose (no random draws, so nothing else changes): the
    # report must show them as text, the action-list workbook must not run the formula.
    for i, hostile in HOSTILE_NAMES.items():
        names[i] = hostile
    return Customers(
        ids,
        names,
        region,
        ctype,
        channel_pref,
        category_pref,
        acquired,
        active_until,
        one_time,
        rate,
        order_value,
        key,
    )


def make_name(rng: np.random.Generator, ctype: str) -> str:
    """A plausible synthetic customer name."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    if ctype == "Business":
        if rng.random() < 0.15:
            return (
                pick(CITIES_HANZI)
                + pick(COMPANY_HANZI_STEMS)
                + pick(COMPANY_HANZI_NOUNS)
                + "有限公司"
            )
        return f"{pick(COMPANY_STEMS)} {pick(COMPANY_NOUNS)} {pick(COMPANY_SUFFIXES)}"
    u = rng.random()
    if u < 0.30:
        return pick(SURNAMES_HANZI) + pick(GIVEN_HANZI)
    if u < 0.80:
        return f"{pick(SURNAMES_PINYIN)} {pick(GIVEN_PINYIN)}"
    return f"{pick(GIVEN_ENGLISH)} {pick(SURNAMES_PINYIN)}"


def make_catalogue(rng: np.random.Generator) -> np.ndarray:
    """List prices in cents, shape (len(CATEGORIES), SKUS_PER_CATEGORY), sorted per row."""
    raw = CATEGORY_MEDIAN_PRICE[:, None] * np.exp(
        0.7 * rng.standard_normal((len(CATEGORIES), SKUS_PER_CATEGORY))
    )
    # Retail price points: whole yuan ending in 9, or x9.90 for cheap items.
    whole = np.maximum(np.round(raw / 10.0) * 10.0 - 1.0, 9.0)
    cheap = np.floor(raw) + 0.9
    price = np.where(raw < 50, cheap, whole)
    return np.sort(np.round(price * 100).astype(np.int64), axis=1)


def make_orders(rng: np.random.Generator, cust: Customers) -> pd.DataFrame:
    """One row per order: customer index, day offset, seconds in day, channel, value."""
    weights = [season_weights(t) for t in range(len(TYPES))]
    cum = [np.concatenate([[0.0], np.cumsum(w)]) for w in weights]
    rows_c, rows_d = [], []
    for i in range(N_CUSTOMERS):
        a, b = int(cust.acquired_day[i]), int(cust.active_until[i])
        w, c = weights[cust.ctype[i]], cum[cust.ctype[i]]
        # The first order falls on or shortly after acquisition.
        first = min(a + int(rng.integers(0, 5)), N_DAYS - 1)
        days = [first]
        if not cust.one_time[i] and b > first:
            expected = cust.rate[i] * (c[b + 1] - c[first + 1])
            k = int(rng.poisson(expected))
            if k:
                p = w[first + 1 : b + 1] / w[first + 1 : b + 1].sum()
                days.extend((first + 1 + rng.choice(b - first, size=k, p=p)).tolist())
        rows_c.extend([i] * len(days))
        rows_d.extend(days)
    cidx = np.array(rows_c)
    day = np.array(rows_d)
    n = len(cidx)

    # Channel: mostly the customer's preferred one.
    other = np.array([rng.choice(len(CHANNELS), p=CHANNEL_P[t]) for t in cust.ctype[cidx]])
    channel = np.where(rng.random(n) < 0.75, cust.channel_pref[cidx], other)
    # Time of day by channel.
    hour = np.empty(n, dtype=int)
    for ch, name in enumerate(CHANNELS):
        m = channel == ch
        hw = HOUR_W[name] / HOUR_W[name].sum()
        hour[m] = rng.choice(24, size=int(m.sum()), p=hw)
    seconds = hour * 3600 + rng.integers(0, 3600, size=n)
    # Order value around the customer's median; Q4 baskets a little larger.
    q4 = np.isin((START + pd.to_timedelta(day, unit="D")).month, [11, 12])
    value = cust.order_value[cidx] * np.exp(0.55 * rng.standard_normal(n)) * np.where(q4, 1.1, 1.0)
    return pd.DataFrame(
        {"cust": cidx, "day": day, "sec": seconds, "channel": channel, "value": value}
    )


def make_walk_ins(rng: np.random.Generator, n_orders: int) -> pd.DataFrame:
    """Walk-in store sales without a customer record (cust = -1)."""
    w = season_weights(0)
    day = rng.choice(N_DAYS, size=n_orders, p=w / w.sum())
    hw = HOUR_W["Store"] / HOUR_W["Store"].sum()
    sec = rng.choice(24, size=n_orders, p=hw) * 3600 + rng.integers(0, 3600, size=n_orders)
    value = 180.0 * np.exp(0.6 * rng.standard_normal(n_orders))
    return pd.DataFrame(
        {"cust": -1, "day": day, "sec": sec, "channel": CHANNELS.index("Store"), "value": value}
    )


def expand_lines(
    rng: np.random.Generator, orders: pd.DataFrame, cust: Customers, catalogue: np.ndarray
) -> pd.DataFrame:
    """Split each order into 1-4 lines with category, unit price (cents) and quantity."""
    n = len(orders)
    known = orders["cust"].to_numpy() >= 0
    ctype_o = np.full(n, 0)
    ctype_o[known] = cust.ctype[orders["cust"].to_numpy()[known]]
    is_biz = ctype_o == 2
    p_private, p_biz = [0.46, 0.31, 0.15, 0.08], [0.34, 0.30, 0.21, 0.15]
    n_lines = (
        np.where(is_biz, rng.choice(4, size=n, p=p_biz), rng.choice(4, size=n, p=p_private)) + 1
    )

    line_order = np.repeat(np.arange(n), n_lines)
    line_no = np.concatenate([np.arange(k) for k in n_lines])
    m = len(line_order)
    # Split the order value over its lines (Dirichlet via normalised gammas).
    g = rng.gamma(2.0, 1.0, size=m)
    share = g / np.bincount(line_order, weights=g)[line_order]
    line_value = orders["value"].to_numpy()[line_order] * share

    # Category from the customer's preferences (walk-ins: overall popularity).
    cust_o = orders["cust"].to_numpy()[line_order]
    pref = np.where(
        cust_o[:, None] >= 0,
        cust.category_pref[np.maximum(cust_o, 0)],
        CATEGORY_POPULARITY / CATEGORY_POPULARITY.sum(),
    )
    cat = (rng.random(m)[:, None] > np.cumsum(pref, axis=1)[:, :-1]).sum(axis=1)

    # SKU: prefer items priced near the line's value, so quantity stays plausible.
    prices = catalogue[cat] / 100.0  # (m, SKUS)
    logit = -((np.log(prices) - np.log(line_value)[:, None]) ** 2) / (2 * 0.9**2)
    sw = np.exp(logit - logit.max(axis=1, keepdims=True))
    sw_cum = np.cumsum(sw, axis=1)
    u = rng.random(m) * sw_cum[:, -1]
    sku = (u[:, None] > sw_cum).sum(axis=1)
    list_cents = catalogue[cat, sku]

    # Businesses get a negotiated discount of 5-25%, taken off the list price.
    biz_line = is_biz[line_order]
    discount = np.where(biz_line, rng.choice([0.05, 0.10, 0.15, 0.20, 0.25], size=m), 0.0)
    unit_cents = np.round(list_cents * (1.0 - discount)).astype(np.int64)
    qty = np.maximum(1, np.round(line_value / (unit_cents / 100.0))).astype(np.int64)
    qty = np.where(biz_line, np.minimum(qty, 1500), np.minimum(qty, 12))

    return pd.DataFrame(
        {
            "order": line_order,
            "line": line_no,
            "category": cat,
            "unit_cents": unit_cents,
            "qty": qty,
        }
    )


def fmt_cents(c: np.ndarray) -> np.ndarray:
    """Cents (int) -> plain decimal strings with two decimals, exact (no float rounding)."""
    c = np.asarray(c, dtype=np.int64)
    sign = np.where(c < 0, "-", "")
    a = np.abs(c)
    return np.array([f"{s}{v // 100}.{v % 100:02d}" for s, v in zip(sign, a)], dtype=object)


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Build the demo transactions as a DataFrame of strings, in output order."""
    return build(seed)[0]


def build(seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, Customers]:
    """The demo transactions (strings, in output order) and the customers behind them."""
    rng = np.random.default_rng(seed)
    catalogue = make_catalogue(rng)
    cust = make_customers(rng)
    orders = make_orders(rng, cust)
    n_walk = int(round(0.005 * len(orders)))
    orders = pd.concat([orders, make_walk_ins(rng, n_walk)], ignore_index=True)

    # Order numbers: chronological within each year.
    orders = orders.sort_values(["day", "sec", "cust"], kind="mergesort").reset_index(drop=True)
    ts = START + pd.to_timedelta(orders["day"], unit="D") + pd.to_timedelta(orders["sec"], unit="s")
    year = ts.dt.year.to_numpy()
    seq = orders.groupby(year).cumcount().to_numpy() + 1
    orders["order_id"] = [f"SO-{y}-{s:06d}" for y, s in zip(year, seq)]
    orders["ts"] = ts

    lines = expand_lines(rng, orders, cust, catalogue)

    # Free samples: a few decor lines of registered customers given away at zero price.
    sample_candidates = np.flatnonzero(
        (orders["cust"].to_numpy()[lines["order"]] >= 0)
        & (lines["category"].to_numpy() == CATEGORIES.index("Decor"))
    )
    free = rng.choice(sample_candidates, size=3, replace=False)
    lines.loc[free, "unit_cents"] = 0
    lines.loc[free, "qty"] = 1

    # Returns: 2-4% of orders (online more), one line back a few days later.
    ch = orders["channel"].to_numpy()
    p_ret = np.array([0.040, 0.020, 0.022])[ch]
    ret_orders = np.flatnonzero(
        (rng.random(len(orders)) < p_ret) & (orders["cust"].to_numpy() >= 0)
    )
    # Lines are stored order by order, so an order's lines are a contiguous block.
    line_orders = lines["order"].to_numpy()
    block_start = np.searchsorted(line_orders, ret_orders, side="left")
    block_len = np.searchsorted(line_orders, ret_orders, side="right") - block_start
    pick = block_start + rng.integers(0, 4, size=len(ret_orders)) % block_len
    ret = lines.loc[pick].copy()
    full = rng.random(len(ret)) < 0.7
    partial = 1 + (rng.random(len(ret)) * np.maximum(ret["qty"].to_numpy() - 1, 1)).astype(np.int64)
    ret_qty = np.where(
        full | (ret["qty"].to_numpy() == 1),
        ret["qty"].to_numpy(),
        np.minimum(partial, ret["qty"].to_numpy()),
    )
    ret["qty"] = -ret_qty
    ret_ts = (
        orders.loc[ret["order"], "ts"].dt.normalize().to_numpy()
        + pd.to_timedelta(rng.integers(2, 22, size=len(ret)), unit="D").to_numpy()
        + pd.to_timedelta(rng.integers(9 * 3600, 18 * 3600, size=len(ret)), unit="s").to_numpy()
    )
    ret["ts"] = ret_ts
    ret["line"] = 0
    keep = (ret["ts"] <= END + pd.Timedelta(hours=23, minutes=59, seconds=59)) & (
        ret["unit_cents"] > 0
    )
    ret = ret[keep.to_numpy()]

    sales = lines.assign(ts=orders.loc[lines["order"], "ts"].to_numpy(), is_return=False)
    ret = ret.assign(is_return=True)
    allrows = pd.concat([sales, ret], ignore_index=True)

    o = orders.loc[allrows["order"]].reset_index(drop=True)
    c = o["cust"].to_numpy()
    known = c >= 0
    ci = np.maximum(c, 0)
    walk_region = rng.choice(len(REGIONS), size=len(c), p=REGION_P)
    out = pd.DataFrame(
        {
            "order_id": np.where(allrows["is_return"], "R" + o["order_id"], o["order_id"]),
            "order_date": pd.DatetimeIndex(allrows["ts"]).strftime("%Y-%m-%d %H:%M:%S"),
            "customer_id": np.where(known, cust.ids[ci], ""),
            "customer_name": np.where(known, cust.names[ci], ""),
            "region": np.array(REGIONS, dtype=object)[
                np.where(known, cust.region[ci], walk_region)
            ],
            "customer_type": np.array(TYPES, dtype=object)[np.where(known, cust.ctype[ci], 0)],
            "channel": np.array(CHANNELS, dtype=object)[o["channel"].to_numpy()],
            "product_category": np.array(CATEGORIES, dtype=object)[allrows["category"].to_numpy()],
            "quantity": allrows["qty"].astype(str).to_numpy(),
            "unit_price": fmt_cents(allrows["unit_cents"].to_numpy()),
            "amount": fmt_cents(allrows["qty"].to_numpy() * allrows["unit_cents"].to_numpy()),
            "_line": allrows["line"].to_numpy(),
        }
    )
    out = out.sort_values(["order_date", "order_id", "_line"], kind="mergesort").drop(
        columns="_line"
    )
    return out.reset_index(drop=True)[COLUMNS], cust


# --------------------------------------------------------------------------- customer master
# Drawn after the transactions from a stream of its own (``default_rng([seed, 1])``),
# so that the transactions file stays byte-identical whatever is drawn here.

MASTER_COLUMNS = [
    "customer_id",
    "customer_name",
    "credit_rating",
    "credit_score",
    "overdue_days",
    "overdue_amount",
    "credit_limit",
    "signup_date",
    "account_owner",
    "industry",
    "satisfaction",
    "referrals",
    "list_status",
]
# Account owners: business and VIP customers are assigned one; individuals have none.
OWNERS = ["Chen Jing", "Li Wei", "Zhao Min", "Wang Lei", "Sun Yan"]
INDUSTRIES = ["Hospitality", "Property management", "Offices", "Education", "Retail", "Design"]
INDUSTRY_P = [0.30, 0.22, 0.20, 0.10, 0.10, 0.08]
# Credit rating bands of the credit score (300-850): A from 750, B 700, C 650, D 600, E below.
RATING_BANDS = [(750, "A"), (700, "B"), (650, "C"), (600, "D"), (0, "E")]
# Blemishes planted in the master (customer index = customer number - FIRST_CUSTOMER_NUMBER):
MASTER_MISSING = (5, 777, 2500)  # customers with transactions but no master row
MASTER_DUPLICATE = 1200  # two differing rows with this id: both are rejected
MASTER_UNPADDED = 2000  # its id written without leading zeros (2001 for 002001)
MASTER_PROSPECTS = 2  # master-only customers (prospects, ids after the last customer)
N_BLACK_LIST = 4  # the customers longest overdue (and over 180 days) are on the black list


def behaviour_index(cust: Customers) -> np.ndarray:
    """A standardised index of how good a customer is (purchase rate, order value, still
    active, key account); the master's credit, satisfaction and referrals follow it."""
    active = (cust.active_until >= N_DAYS - 1).astype(float)
    raw = (
        np.log(cust.rate)
        + 0.5 * np.log(cust.order_value)
        + 0.8 * active
        - 0.8 * cust.one_time
        + 1.5 * cust.key_account
    )
    return (raw - raw.mean()) / raw.std()


def make_master(seed: int, cust: Customers) -> pd.DataFrame:
    """The CRM customer master of the demo customers (strings, sorted by id, with the
    planted blemishes)."""
    rng = np.random.default_rng([seed, 1])
    n = N_CUSTOMERS
    z = behaviour_index(cust)
    biz = cust.ctype == TYPES.index("Business")
    vip = cust.ctype == TYPES.index("VIP-member")

    score = np.clip(np.round(680 + 55 * (0.6 * z + 0.8 * rng.standard_normal(n))), 300, 850)
    rating = np.array([next(r for lo, r in RATING_BANDS if s >= lo) for s in score], dtype=object)
    # overdue: businesses buy on credit; the weaker the credit, the likelier late
    p_late = np.where(biz, 1 / (1 + np.exp(2.0 + 1.6 * (score - 680) / 55)), 0.0)
    late = rng.random(n) < p_late
    days = np.where(late, np.ceil(rng.exponential(55.0, size=n)).astype(int), 0)
    amount_cents = np.where(
        late, np.round(cust.order_value * rng.uniform(0.3, 2.5, size=n) * 100), 0
    ).astype(np.int64)
    limit = np.where(biz, np.maximum(5000, np.round(cust.order_value * 6 / 5000) * 5000), np.nan)
    # sign-up: existing customers (active from the first month) signed up years before;
    # new ones shortly before their first purchase
    existing = cust.acquired_day < 30
    back = np.where(existing, rng.integers(30, 8 * 365, size=n), rng.integers(0, 15, size=n))
    signup = START + pd.to_timedelta(cust.acquired_day - back, unit="D")
    owner = np.where(
        biz | vip, np.array(OWNERS, dtype=object)[rng.integers(0, len(OWNERS), size=n)], ""
    )
    industry = np.where(
        biz,
        np.array(INDUSTRIES, dtype=object)[rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_P)],
        "",
    )
    # satisfaction 1-5 from the last survey; a third never answered (blank)
    sat = np.clip(np.round(3.4 + 0.7 * z + 0.8 * rng.standard_normal(n)), 1, 5).astype(int)
    surveyed = rng.random(n) < 0.67
    referrals = rng.poisson(np.exp(-1.3 + 0.6 * z + 0.6 * vip))
    status = np.where(cust.key_account, "red list", "").astype(object)
    worst = np.argsort(-days, kind="stable")[:N_BLACK_LIST]
    status[worst[days[worst] > 180]] = "black list"

    master = pd.DataFrame(
        {
            "customer_id": cust.ids.copy(),
            "customer_name": cust.names,
            "credit_rating": rating,
            "credit_score": score.astype(int).astype(str),
            "overdue_days": days.astype(str),
            "overdue_amount": fmt_cents(amount_cents),
            "credit_limit": [("" if np.isnan(v) else f"{int(v)}") for v in limit],
            "signup_date": signup.strftime("%Y-%m-%d"),
            "account_owner": owner,
            "industry": industry,
            "satisfaction": np.where(surveyed, sat.astype(str), ""),
            "referrals": referrals.astype(str),
            "list_status": status,
        }
    )
    master.loc[MASTER_UNPADDED, "customer_id"] = str(FIRST_CUSTOMER_NUMBER + MASTER_UNPADDED)
    twin = master.loc[[MASTER_DUPLICATE]].copy()
    twin["credit_score"] = str(int(score[MASTER_DUPLICATE]) - 40)  # a second, older record
    twin["account_owner"] = OWNERS[0] if owner[MASTER_DUPLICATE] != OWNERS[0] else OWNERS[1]
    prospects = pd.DataFrame(
        {
            "customer_id": [
                f"{FIRST_CUSTOMER_NUMBER + n + i:06d}" for i in range(MASTER_PROSPECTS)
            ],
            "customer_name": ["Harbor View Hotel Co., Ltd.", "刘芳"][:MASTER_PROSPECTS],
            "credit_rating": ["B", ""][:MASTER_PROSPECTS],
            "credit_score": ["712", ""][:MASTER_PROSPECTS],
            "overdue_days": ["0", ""][:MASTER_PROSPECTS],
            "overdue_amount": ["0.00", ""][:MASTER_PROSPECTS],
            "credit_limit": ["20000", ""][:MASTER_PROSPECTS],
            "signup_date": ["2025-12-15", "2025-12-20"][:MASTER_PROSPECTS],
            "account_owner": [OWNERS[2], ""][:MASTER_PROSPECTS],
            "industry": ["Hospitality", ""][:MASTER_PROSPECTS],
            "satisfaction": ["", ""][:MASTER_PROSPECTS],
            "referrals": ["0", "1"][:MASTER_PROSPECTS],
            "list_status": ["", ""][:MASTER_PROSPECTS],
        }
    )
    master = master.drop(index=list(MASTER_MISSING))
    master = pd.concat([master, twin, prospects], ignore_index=True)
    # a CRM export in id order (the duplicate next to its twin)
    return master.sort_values("customer_id", kind="stable").reset_index(drop=True)[MASTER_COLUMNS]


# --------------------------------------------------------------------------- campaign

CAMPAIGN_COLUMNS = [
    "customer_id",
    "campaign",
    "contact_date",
    "group",
    "responded",
    "converted",
    "revenue",
]
CAMPAIGN_NAME = "Autumn loyalty offer 2025"
CAMPAIGN_DATE = pd.Timestamp("2025-10-01")  # the first day of the demo's holdout quarter
CONTROL_SHARE = 0.4  # random control group: 40 % of the contacted customers
# The campaign targets the customers by their ABC tier on net spend before CAMPAIGN_DATE
# (cut-offs 80 % and 95 % of value, as params/demo.yaml tiers them).
CAMPAIGN_CUTOFFS = (0.8, 0.95)
TIERS = ("A", "B", "C")
# Planted effects per tier: (control rate, true uplift = treatment - control).
# Top customers buy anyway (no uplift to speak of); the middle tier is the most
# persuadable, the bottom tier responds less but still gains.
PLANTED_RESPONSE = {"A": (0.20, 0.01), "B": (0.10, 0.15), "C": (0.05, 0.10)}
PLANTED_CONVERSION = {"A": (0.08, 0.005), "B": (0.04, 0.06), "C": (0.015, 0.04)}
# Revenue of a converted customer (CNY): lognormal with these medians, sigma 0.6; the
# offer changes whether a customer converts, not how much a converter spends.
CONVERTER_MEDIAN = {"A": 2000.0, "B": 900.0, "C": 350.0}
CONVERTER_SIGMA = 0.6


def planted_revenue_uplift(tier: str) -> float:
    """The true revenue uplift per contacted customer of a tier (CNY): conversion uplift
    times a converter's mean revenue (lognormal mean = median * exp(sigma^2 / 2))."""
    return PLANTED_CONVERSION[tier][1] * CONVERTER_MEDIAN[tier] * np.exp(CONVERTER_SIGMA**2 / 2)


def tiers_before(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """ABC tier (``TIERS``) of every customer with a purchase before ``cutoff``, by net
    spend before it (the rule of ``tiering.analysis.methods.abc``: a customer joins the
    first tier whose cut-off its cumulative share before it has not reached; zero or
    negative spend is the last tier; ties by id)."""
    tx = transactions[transactions["customer_id"] != ""]
    tx = tx[tx["order_date"] < cutoff.strftime("%Y-%m-%d")]
    net = tx["amount"].astype(float).groupby(tx["customer_id"]).sum()
    ids = net.index.to_numpy(dtype=str)
    value = net.to_numpy()
    order = np.lexsort((ids, -value))
    positive = np.clip(value[order], 0, None)
    cum = np.cumsum(positive) / positive.sum()
    before = np.concatenate([[0.0], cum[:-1]])
    rank = np.searchsorted(np.asarray(CAMPAIGN_CUTOFFS), before, side="right")
    rank = np.where(value[order] > 0, rank, len(TIERS) - 1)
    return pd.Series(np.array(TIERS)[rank], index=ids[order]).sort_index()


def make_campaign(
    seed: int, transactions: pd.DataFrame, rng: np.random.Generator | None = None
) -> pd.DataFrame:
    """One campaign sent on CAMPAIGN_DATE to every customer who bought before it and to
    the master's prospects, split at random into treatment and control; response,
    conversion and revenue drawn with the planted per-tier effects (strings, by id)."""
    rng = rng if rng is not None else np.random.default_rng([seed, 2])
    tiers = tiers_before(transactions, CAMPAIGN_DATE)
    ids = list(tiers.index) + [
        f"{FIRST_CUSTOMER_NUMBER + N_CUSTOMERS + i:06d}" for i in range(MASTER_PROSPECTS)
    ]
    tier = np.array(list(tiers.to_numpy()) + ["C"] * MASTER_PROSPECTS)  # prospects: as C
    n = len(ids)
    control = rng.random(n) < CONTROL_SHARE
    treated = ~control
    base_r = np.array([PLANTED_RESPONSE[t][0] for t in tier])
    up_r = np.array([PLANTED_RESPONSE[t][1] for t in tier])
    base_c = np.array([PLANTED_CONVERSION[t][0] for t in tier])
    up_c = np.array([PLANTED_CONVERSION[t][1] for t in tier])
    p_resp = base_r + treated * up_r
    p_conv = base_c + treated * up_c
    responded = rng.random(n) < p_resp
    # converters are responders: P(convert | responded) = p_conv / p_resp
    converted = responded & (rng.random(n) < p_conv / p_resp)
    median = np.array([CONVERTER_MEDIAN[t] for t in tier])
    spend = median * np.exp(CONVERTER_SIGMA * rng.standard_normal(n))
    cents = np.where(converted, np.round(spend * 100), 0).astype(np.int64)
    out = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign": CAMPAIGN_NAME,
            "contact_date": CAMPAIGN_DATE.strftime("%Y-%m-%d"),
            "group": np.where(control, "control", "treatment"),
            "responded": responded.astype(int).astype(str),
            "converted": converted.astype(int).astype(str),
            "revenue": fmt_cents(cents),
        }
    )
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)[CAMPAIGN_COLUMNS]


def companion_paths(out: Path) -> tuple[Path, Path]:
    """Where the master and the campaign go beside the transactions file ``out``:
    ``demo_customers.csv``/``demo_campaigns.csv`` next to ``demo_transactions.csv``,
    else ``<stem>_customers.csv``/``<stem>_campaigns.csv``."""
    stem = "demo" if out.name == DEFAULT_OUT.name else out.stem
    return out.with_name(f"{stem}_customers.csv"), out.with_name(f"{stem}_campaigns.csv")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write UTF-8 (no BOM), comma-separated, '\\n' line endings, minimal quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def summarize(path: Path) -> dict[str, object]:
    """Measured figures of a generated file (used for data/README.md)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    amount = df["amount"].astype(float)
    known = df["customer_id"] != ""
    net = amount[known].groupby(df.loc[known, "customer_id"]).sum().sort_values(ascending=False)
    top = int(np.ceil(0.2 * len(net)))
    is_ret = df["order_id"].str.startswith("R")
    orders = df.loc[~is_ret & known].groupby("customer_id")["order_id"].nunique()
    ts = pd.to_datetime(df["order_date"])
    last = ts[known].groupby(df.loc[known, "customer_id"]).max()
    month_rev = amount.groupby(ts.dt.month).sum() / 2  # average per calendar month
    return {
        "file_bytes": path.stat().st_size,
        "rows": len(df),
        "sales_orders": df.loc[~is_ret, "order_id"].nunique(),
        "customers": int(net.size),
        "first_date": df["order_date"].min(),
        "last_date": df["order_date"].max(),
        "net_revenue": round(float(amount.sum()), 2),
        "top20_share": round(float(net.iloc[:top].sum() / net.sum()), 4),
        "top1pct_share": round(
            float(net.iloc[: int(np.ceil(0.01 * len(net)))].sum() / net.sum()), 4
        ),
        "one_time_share": round(float((orders == 1).mean()), 4),
        "inactive_180d_share": round(
            float((last < pd.Timestamp("2025-12-31") - pd.Timedelta(days=180)).mean()), 4
        ),
        "return_rows": int(is_ret.sum()),
        "return_share_of_orders": round(
            float(is_ret.sum() / df.loc[~is_ret, "order_id"].nunique()), 4
        ),
        "blank_id_rows": int((~known).sum()),
        "zero_amount_rows": int((amount == 0).sum()),
        "rev_nov_dec_per_month": round(float(month_rev.loc[[11, 12]].mean()), 2),
        "rev_jun_jul_per_month": round(float(month_rev.loc[[6, 7]].mean()), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output CSV (default {DEFAULT_OUT.name} next to this script)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--summary", action="store_true", help="print the measured figures of the written file"
    )
    args = parser.parse_args(argv)
    df, cust = build(args.seed)
    write_csv(df, args.out)
    print(f"wrote {len(df)} rows to {args.out}")
    master_out, campaign_out = companion_paths(args.out)
    master = make_master(args.seed, cust)
    write_csv(master, master_out)
    print(f"wrote {len(master)} rows to {master_out}")
    campaign = make_campaign(args.seed, df)
    write_csv(campaign, campaign_out)
    print(f"wrote {len(campaign)} rows to {campaign_out}")
    if args.summary:
        for key, value in summarize(args.out).items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
