"""Charts of the forward-looking value section, drawn with the chart kit of
:mod:`tiering.present.charts`.

- :func:`calibration_chart`: the calibration chart of the BTYD literature: mean
  purchases per customer in the holdout months by calibration frequency, actual against
  the model and the naive baseline (:attr:`tiering.analysis.clv.ValueHoldout.groups`).
- :func:`value_share_chart`: each tier's share of past revenue against its share of the
  expected value (:attr:`tiering.analysis.value.ValueAnalysis.tiers` and the tier
  summary).

Both take ``ax=None`` and return the Axes; the words come from ``value.*``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from tiering.errors import require
from tiering.present import charts
from tiering.present.i18n import t
from tiering.style import MUTED, Palette, tier_palette

__all__ = ["calibration_chart", "value_share_chart"]


def calibration_chart(
    groups: pd.DataFrame, *, language: str, ax=None, brand: Palette | None = None
):
    """Mean holdout purchases per customer by calibration frequency group: actual
    (bars), the model (line with dots, in the brand's primary colour) and the naive
    baseline (dashed line). Each group's tick says its number of customers. Returns the
    Axes."""
    charts.check_language(language)
    require(
        isinstance(groups, pd.DataFrame) and len(groups) > 0,
        "calibration_chart needs the groups of a holdout check that ran",
        where="calibration_chart(groups)",
    )
    charts.setup_fonts()
    _, ax = charts.new_axes(ax, (charts.FIG_WIDTH, 3.0))
    charts.style_axes(ax, grid="y")
    x = np.arange(len(groups))
    actual = groups["actual_purchases"].to_numpy(dtype=float)
    model = groups["predicted_purchases"].to_numpy(dtype=float)
    base = groups["baseline_purchases"].to_numpy(dtype=float)
    ax.bar(x, actual, width=0.6, color="#c9d6e3", label=t("value.chart_actual", language))
    ax.plot(
        x,
        model,
        marker="o",
        color=(brand or Palette()).primary,
        linewidth=2.0,
        label=t("value.chart_model", language),
    )
    ax.plot(
        x,
        base,
        marker="s",
        markersize=4,
        color=MUTED,
        linewidth=1.4,
        linestyle="--",
        label=t("value.chart_baseline", language),
    )
    top = float(np.nanmax(np.concatenate([actual, model, base]))) if len(x) else 1.0
    ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)
    ax.set_xticks(
        x,
        [
            f"{g}\n" + t("value.chart_customers", language, n=f"{int(n):,}")
            for g, n in zip(groups["frequency_group"], groups["customers"])
        ],
    )
    charts.set_title(ax, t("value.chart_calibration_title", language))
    charts.set_axis_labels(ax, x=t("value.chart_x", language), y=t("value.chart_y", language))
    ax.legend(frameon=False, fontsize=charts.NOTE_SIZE, loc="upper left")
    return ax


def value_share_chart(
    value_tiers: pd.DataFrame,
    tier_summary: pd.DataFrame,
    *,
    horizon: int,
    language: str,
    ax=None,
    brand: Palette | None = None,
):
    """Per tier, two horizontal bars: the share of past net revenue (hollow) and the
    share of the expected value over ``horizon`` months (filled in the tier's colour),
    each labelled with its percentage. Returns the Axes."""
    charts.check_language(language)
    require(
        isinstance(value_tiers, pd.DataFrame) and len(value_tiers) > 0,
        "value_share_chart needs the per-tier value table",
        where="value_share_chart(value_tiers)",
    )
    charts.setup_fonts()
    labels = [str(x) for x in value_tiers["tier"]]
    palette = tier_palette(labels, brand)
    past = (
        tier_summary.assign(tier=tier_summary["tier"].astype(str))
        .set_index("tier")["revenue_share"]
        .reindex(labels)
        .fillna(0.0)
        .to_numpy(dtype=float)
    )
    future = value_tiers["clv_share"].fillna(0.0).to_numpy(dtype=float)
    _, ax = charts.new_axes(ax, (charts.FIG_WIDTH, 0.9 + 0.62 * len(labels)))
    charts.style_axes(ax, grid="x")
    y = np.arange(len(labels))
    colours = [palette[label] for label in labels]
    ax.barh(
        y - 0.19,
        past,
        height=0.36,
        color="white",
        edgecolor=colours,
        linewidth=1.4,
        label=t("value.chart_past", language),
    )
    ax.barh(
        y + 0.19,
        future,
        height=0.36,
        color=colours,
        label=t("value.chart_future", language, horizon=horizon),
    )
    for yi, (p, f) in enumerate(zip(past, future)):
        for dy, v in ((-0.19, p), (0.19, f)):
            ax.annotate(
                charts.fmt_share(float(v)),
                (v, yi + dy),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=charts.NOTE_SIZE,
                color=charts.TEXT_COLOR,
            )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, float(np.max(np.concatenate([past, future])))) * 1.12)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    charts.set_title(ax, t("value.chart_shares_title", language))
    charts.set_axis_labels(ax, x=t("value.chart_share_axis", language))
    ax.legend(frameon=False, fontsize=charts.NOTE_SIZE, loc="lower right")
    return ax
