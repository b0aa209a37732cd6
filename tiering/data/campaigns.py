"""Campaign results: a file with one row per customer contacted in a campaign (customer,
campaign, date, treatment or control group, responded, converted, revenue), read by the
transaction loader's rules.

Design note (issue 21; what the next phase wires):

- ``data.campaigns`` (``tiering.params.CampaignSource``) is read by :func:`read_campaigns`
  with the analysis window of the transactions (``window_start`` or the first
  transaction date, and ``as_of``), so that a campaign dated outside the data is a
  counted rejection, not a silent mismatch. Its ``contacts`` go with the customers'
  tiers into ``tiering.analysis.campaigns.campaign_results`` (rates with Wilson
  intervals, uplift with Newcombe and bootstrap intervals, the test of whether the
  uplift differs between tiers, and ``causal_wording`` False without a control group).
- The report section "Do the tiers respond differently?" shows those tables; its
  rejected rows join ``rejected_rows.csv`` with a file column (the layout and reason
  codes are the loader's, texts in ``tiering/text/reasons.yaml``).
- The tier of a customer should be the one assigned before the campaign (the holdout
  check's cut-off tiers when the campaign falls in the holdout months); the next phase
  chooses and says which.
- The budget split can take the measured per-tier uplift (``CampaignAnalysis.uplift``)
  instead of assumed growth.
- Demo data: ``data/demo_campaigns.csv``, one campaign with a random control group
  whose true uplift differs by tier (``PLANTED_*`` in ``data/generate_demo.py``, on the
  ABC tiers before 2025-10-01, the demo's holdout cut-off); ``tests/test_demo_data.py``
  recovers it within the intervals of ``tiering.analysis.campaigns``.

Rules: ids as the loader normalises them (``tiering.data.io.normalise_ids``) with its id
reasons; the group is read from known words (treatment, test, 实验组 ...; control,
holdout, 对照组 ...; ``treatment_values``/``control_values`` add more), anything else is
``unknown_group``; a group column named after one group (是否对照组, is_control,
实验组) holds yes/no flags for it; without a group column every row is treated and there
is no control.
``responded``/``converted`` are 0/1, yes/no, true/false, y/n, 是/否 (a blank is no and
counted in ``source['blank_flags']``); anything else (``2``, ``1.5``, ``50%``) is
``bad_flag``. Revenue is read as the loader reads amounts (a blank is 0, counted);
negative revenue is ``negative_revenue``. A customer in both groups of one campaign
has every row of that campaign rejected (``conflicting_group``). Several rows of one
customer in one campaign and group are kept (the analysis counts the customer once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tiering.data import io
from tiering.data.customers import (
    Screen,
    column_dates,
    column_numbers,
    file_facts,
    header_key,
    latest_date,
    read_rows,
)
from tiering.errors import DataError
from tiering.params import CampaignSource

ROLES = ("customer_id", "campaign", "date", "group", "responded", "converted", "revenue")
OUTCOMES = ("responded", "converted", "revenue")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": io.SYNONYMS["customer_id"],
    "campaign": (
        "campaign",
        "campaignname",
        "campaignid",
        "campaigncode",
        "promotion",
        "promo",
        "活动",
        "活动名称",
        "活动编号",
        "营销活动",
        "活动id",
        "促销活动",
        "活动代码",
    ),
    "date": (
        "date",
        "campaigndate",
        "contactdate",
        "senddate",
        "sentat",
        "sentdate",
        "contactedat",
        "日期",
        "活动日期",
        "发送日期",
        "触达日期",
        "接触日期",
        "发送时间",
        "触达时间",
    ),
    "group": (
        "group",
        "testgroup",
        "arm",
        "variant",
        "cell",
        "treatmentgroup",
        "controlgroup",
        "组别",
        "分组",
        "实验分组",
        "组",
        "对照组",
        "实验组",
        "iscontrol",
        "controlflag",
        "holdout",
        "istreatment",
        "treated",
        "是否对照组",
        "是否对照",
        "是否实验组",
    ),
    "responded": (
        "responded",
        "response",
        "isresponded",
        "opened",
        "clicked",
        "响应",
        "是否响应",
        "响应标记",
        "已响应",
        "回应",
    ),
    "converted": (
        "converted",
        "conversion",
        "isconverted",
        "purchased",
        "bought",
        "转化",
        "是否转化",
        "转化标记",
        "已转化",
        "成交",
        "是否成交",
    ),
    "revenue": (
        "revenue",
        "amount",
        "sales",
        "conversionrevenue",
        "conversionvalue",
        "收入",
        "转化金额",
        "成交金额",
        "销售额",
        "金额",
    ),
}

TREATMENT_WORDS = (
    "treatment",
    "treated",
    "test",
    "experiment",
    "experimental",
    "exposed",
    "target",
    "targeted",
    "t",
    "实验组",
    "实验",
    "处理组",
    "测试组",
    "试验组",
    "干预组",
    "营销组",
    "目标组",
)
CONTROL_WORDS = (
    "control",
    "controlgroup",
    "holdout",
    "holdoutgroup",
    "c",
    "对照组",
    "对照",
    "控制组",
    "空白组",
    "保留组",
)
# A group column whose header names one group holds yes/no flags: yes means that group
# (是否对照组: 是 = control, 否 = treatment); other values are read as group names.
CONTROL_FLAG_HEADERS = (
    "对照组",
    "iscontrol",
    "controlflag",
    "holdout",
    "是否对照组",
    "是否对照",
    "controlgroup",
)
TREATMENT_FLAG_HEADERS = ("实验组", "istreatment", "treated", "是否实验组", "treatmentgroup")
YES = ("1", "1.0", "yes", "y", "true", "t", "是", "有", "√", "✓")
NO = ("0", "0.0", "no", "n", "false", "f", "否", "无", "", "×")

REASONS: dict[str, tuple[str, str]] = {
    **{
        code: io.REASONS[code]
        for code in ("missing_customer_id", "bad_customer_id", "rounded_customer_id")
    },
    "missing_campaign": ("invalid", "campaign name is blank"),
    "unknown_group": ("invalid", "group is neither treatment nor control"),
    "bad_campaign_date": ("invalid", "campaign date is blank or not a date"),
    "campaign_outside_window": ("excluded", "campaign date outside the analysis window"),
    "bad_flag": ("invalid", "responded or converted is not 0/1, yes/no or 是/否"),
    "bad_revenue": ("invalid", "campaign revenue is not a number"),
    "negative_revenue": ("invalid", "campaign revenue is negative"),
    "conflicting_group": (
        "invalid",
        "customer in both the treatment and the control group of one campaign",
    ),
}


@dataclass(frozen=True)
class CampaignResult:
    """Campaign results read by the loader's rules.

    - ``contacts``: one row per used row of the file, in file order: ``row``,
      ``customer_id`` (str), ``campaign`` (str), ``date`` (datetime64, NaT without a
      date column), ``group`` (``treatment``/``control``), then the outcomes found:
      ``responded``, ``converted`` (bool), ``revenue`` (float, >= 0).
    - ``rejected``, ``quality``: the loader's layouts (``row, reason, category, detail,
      src_<header>``; ``reason, category, description, rows``).
    - ``source``: ``path, format, sha256, bytes, encoding, delimiter, sheet, header_row,
      columns, rows_read, rows_used, rows_rejected, blank_flags`` (role -> blanks read
      as no), ``blank_revenue``, ``window`` (start, end or None).
    - ``outcomes``: the outcome columns found; ``has_group``: the file has a group column.
    """

    contacts: pd.DataFrame
    rejected: pd.DataFrame
    quality: pd.DataFrame
    source: dict
    outcomes: tuple[str, ...] = field(default=())
    has_group: bool = False

    @property
    def rows_read(self) -> int:
        return self.source["rows_read"]


def read_campaigns(
    spec: CampaignSource,
    *,
    window_start: dt.date | None = None,
    as_of: dt.date | None = None,
) -> CampaignResult:
    """Read ``data.campaigns``. A date before ``window_start`` or on or after ``as_of``
    (the transactions' analysis window) is ``campaign_outside_window``."""
    key = "data.campaigns"

    def has_outcome(read) -> None:
        if not any(r in read.mapping for r in OUTCOMES):
            raise DataError(
                f"The campaign results {read.file} have no outcome column "
                "(responded, converted or revenue)",
                where=f"{read.where}, header row {read.info['header_row']}",
                hint=f"name one in {key}.columns, e.g. {key}.columns.responded: <header>; "
                f"columns found: {', '.join(repr(h) for h in read.headers)}",
            )

    read = read_rows(
        spec, key, synonyms=SYNONYMS, what="The campaign results file", check=has_outcome
    )
    body, mapping, info, where = read.body, read.mapping, read.info, read.where
    outcomes = tuple(r for r in OUTCOMES if r in mapping)
    info.update(
        columns={r: mapping[r] for r in ROLES if r in mapping},
        rows_read=len(body),
        window=[
            window_start.isoformat() if window_start else None,
            as_of.isoformat() if as_of else None,
        ],
    )
    s = Screen(body, REASONS)
    ids = s.ids(mapping["customer_id"])
    out = pd.DataFrame({"row": body.index.astype("int64"), "customer_id": ids}, index=body.index)

    if "campaign" in mapping:
        name = body[mapping["campaign"]].str.strip()
        s.mark(name == "", "missing_campaign")
        out["campaign"] = name
    else:
        out["campaign"] = Path(spec.path).stem

    if "group" in mapping:
        col = mapping["group"]
        raw = body[col].str.strip()
        words = {header_key(w): "treatment" for w in (*TREATMENT_WORDS, *spec.treatment_values)}
        words |= {header_key(w): "control" for w in (*CONTROL_WORDS, *spec.control_values)}
        flag_of = None
        if header_key(col) in {header_key(h) for h in CONTROL_FLAG_HEADERS}:
            flag_of = ("control", "treatment")
        elif header_key(col) in {header_key(h) for h in TREATMENT_FLAG_HEADERS}:
            flag_of = ("treatment", "control")
        if flag_of is not None:
            yes_no = {header_key(v): flag_of[0] for v in YES if v}
            yes_no |= {header_key(v): flag_of[1] for v in NO if v}
            words = yes_no | words
        group = raw.map(lambda v: words.get(header_key(v)))
        s.mark(
            group.isna(),
            "unknown_group",
            f"{col}: "
            + raw.str.slice(0, 40).where(raw != "", "(blank)")
            + f" (name it in {key}.treatment_values or {key}.control_values)",
        )
        out["group"] = group.fillna("")
    else:
        out["group"] = "treatment"

    if "date" in mapping:
        col = mapping["date"]
        raw = body[col].str.strip()
        shown = f"{col}: " + raw.str.slice(0, 40)
        dates, partial = column_dates(
            body[col], dayfirst=io.dayfirst_param(spec), column=col, file=where
        )
        s.mark(partial, "bad_campaign_date", shown + " (only a year or month)")
        s.mark(dates.isna(), "bad_campaign_date", shown)
        s.mark(dates < pd.Timestamp("1900-01-01"), "bad_campaign_date", shown)
        s.mark(dates > latest_date(), "bad_campaign_date", shown + " (in the future)")
        if window_start is not None:
            s.mark(
                dates < pd.Timestamp(window_start),
                "campaign_outside_window",
                shown + f" (before the data starts, {window_start})",
            )
        if as_of is not None:
            s.mark(
                dates >= pd.Timestamp(as_of),
                "campaign_outside_window",
                shown + f" (on or after the as-of date, {as_of})",
            )
        inside = (dates >= io.NS_MIN) & (dates <= io.NS_MAX)
        out["date"] = dates.where(inside).astype("datetime64[ns]")
    else:
        out["date"] = pd.Series(pd.NaT, index=body.index, dtype="datetime64[ns]")

    yes = {header_key(v) for v in YES}
    no = {header_key(v) for v in NO}
    blank_flags = {}
    for role in ("responded", "converted"):
        if role not in mapping:
            continue
        col = mapping[role]
        raw = body[col].str.strip()
        k = raw.map(header_key)
        flag = k.map(lambda v: True if v in yes else (False if v in no else None))
        s.mark(
            flag.isna(),
            "bad_flag",
            f"{col}: " + raw.str.slice(0, 40) + " (use 0/1, yes/no or 是/否)",
        )
        blank_flags[role] = int(((raw == "") & s.used).sum())
        out[role] = flag.fillna(False).astype(bool)

    blank_revenue = 0
    if "revenue" in mapping:
        col = mapping["revenue"]
        raw = body[col].str.strip()
        value = column_numbers(body[col], decimal=spec.decimal, column=col, file=where)
        s.mark(raw.ne("") & value.isna(), "bad_revenue", f"{col}: " + raw.str.slice(0, 40))
        s.mark(value < 0, "negative_revenue", f"{col}: " + raw.str.slice(0, 40))
        blank_revenue = int(((raw == "") & s.used).sum())
        out["revenue"] = value.fillna(0.0).astype("float64")

    # one customer in both groups of a campaign: which group it was is unknown
    live = s.used
    both = out[live].groupby(["campaign", "customer_id"])["group"].nunique().loc[lambda n: n > 1]
    if len(both):
        pair = pd.MultiIndex.from_frame(out[["campaign", "customer_id"]])
        hit = pd.Series(pair.isin(both.index), index=body.index) & live
        s.mark(
            hit,
            "conflicting_group",
            "customer " + ids.str.slice(0, 40) + " is in both groups of " + out["campaign"],
        )

    used = s.used
    order = ["row", "customer_id", "campaign", "date", "group", *outcomes]
    contacts = out.loc[used, order].reset_index(drop=True)
    info.update(
        rows_used=int(used.sum()),
        rows_rejected=int((~used).sum()),
        blank_flags=blank_flags,
        blank_revenue=blank_revenue,
    )
    return CampaignResult(
        contacts=contacts,
        rejected=s.rejected(),
        quality=s.quality(),
        source=info,
        outcomes=outcomes,
        has_group="group" in mapping,
    )


def campaign_source(result: CampaignResult) -> dict:
    """What the analysis' ``source['campaigns']`` holds: the file, its rows (read, used,
    rejected, rejected by reason), blank flags and revenue read as no and 0, the window."""
    src = result.source
    return {
        **file_facts(src),
        "rejected_by_reason": {r.reason: int(r.rows) for r in result.quality.itertuples()},
        "blank_flags": dict(src.get("blank_flags") or {}),
        "blank_revenue": int(src.get("blank_revenue") or 0),
        "window": list(src.get("window") or [None, None]),
    }


def attach_campaigns(
    loaded, spec: CampaignSource, *, window_start: dt.date | None, as_of: dt.date | None
):
    """The pipeline's step for ``data.campaigns``: read the file within the analysis
    window and return ``(CampaignResult, loaded)``, where ``loaded`` is a copy whose
    ``source['campaigns']`` holds :func:`campaign_source` and whose rejected rows include
    the campaign file's (the master's layout: ``detail`` starts with the file name; a
    streaming engine's rejected-rows file is appended to). The transactions' own counts
    are left as they are."""
    import dataclasses

    from tiering.data.customers import append_rejected, rejected_in_layout

    result = read_campaigns(spec, window_start=window_start, as_of=as_of)
    update: dict = {"source": {**loaded.source, "campaigns": campaign_source(result)}}
    if len(result.rejected):
        if getattr(loaded, "rejected", None) is not None:
            rejected = loaded.rejected
            extra = rejected_in_layout(result, list(rejected.columns))
            update["rejected"] = pd.concat([rejected, extra], ignore_index=True)
        elif getattr(loaded, "rejected_path", None) is not None:
            append_rejected(loaded.rejected_path, result)
    return result, dataclasses.replace(loaded, **update)
