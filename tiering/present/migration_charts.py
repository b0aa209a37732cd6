"""The charts of tier migration and the labels they (and the report section) use.

Labels: :func:`snapshot_label` (the period a snapshot ends: ``Q4 2025``), :func:`tick_labels`
(compact two-line axis labels), :func:`state_name` (a tier, ``lapsed`` or ``new`` for
display), :func:`period_word` (``quarter``/``month``). Charts of a
:class:`tiering.analysis.migration.Migration`: :func:`flow_chart` (alluvial diagram of one
transition), :func:`transition_heatmap` (the transition matrix), :func:`trend_chart`
(customers and revenue share per state over the snapshots) and :func:`rates_chart`
(churn, downgrade and upgrade rate per tier). They are drawn with the chart kit of
:mod:`tiering.present.charts`; every word comes from the ``migration.*`` catalogue
(``tiering/text/migration.yaml``).
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import PercentFormatter

from tiering import locale
from tiering.analysis.migration import Migration, pooled_matrix
from tiering.analysis.transitions import LAPSED, NEW
from tiering.errors import DataError, require
from tiering.present import charts
from tiering.present.i18n import t, tn
from tiering.style import LAPSED_COLOR, NEW_COLOR, Palette, tier_palette

__all__ = [
    "flow_chart",
    "period_word",
    "rates_chart",
    "snapshot_label",
    "state_name",
    "tick_labels",
    "transition_heatmap",
    "trend_chart",
]


# --------------------------------------------------------------------------- labels


def snapshot_label(date, *, period: str, language: str) -> str:
    """A short name of the period that ends at a snapshot: ``Q4 2025`` / ``2025年第4季度``
    when it is a calendar quarter, ``Dec 2025`` / ``2025年12月`` a calendar month, else
    its last day (``9 Dec 2011`` / ``2011年12月9日``)."""
    end = pd.Timestamp(date)
    last = end - pd.Timedelta(days=1)
    aligned = end == end.normalize() and end.day == 1
    if aligned and period == "quarter" and end.month in (1, 4, 7, 10):
        return t("migration.label_quarter", language, year=last.year, q=(last.month - 1) // 3 + 1)
    if aligned and period == "month":
        return t(
            "migration.label_month",
            language,
            year=last.year,
            month=last.month,
            mon=locale.get(language).month(last.month),
        )
    return t(
        "migration.label_day",
        language,
        year=last.year,
        month=last.month,
        day=last.day,
        mon=locale.get(language).month(last.month),
    )


def tick_labels(dates, *, period: str, language: str) -> list[str]:
    """Compact two-line axis labels for snapshots: the period on the first line, the
    year on the second line at the first tick and wherever the year changes."""
    out, year = [], None
    for d in dates:
        end = pd.Timestamp(d)
        last = end - pd.Timedelta(days=1)
        aligned = end == end.normalize() and end.day == 1
        if aligned and period == "quarter" and end.month in (1, 4, 7, 10):
            head = t("migration.tick_quarter", language, q=(last.month - 1) // 3 + 1)
        elif aligned and period == "month":
            head = t(
                "migration.tick_month",
                language,
                month=last.month,
                mon=locale.get(language).month(last.month),
            )
        else:
            head = t(
                "migration.tick_day",
                language,
                month=last.month,
                day=last.day,
                mon=locale.get(language).month(last.month),
            )
        if last.year != year:
            head += "\n" + t("migration.tick_year", language, year=last.year)
            year = last.year
        out.append(head)
    return out


def state_name(state: str, language: str) -> str:
    """A state for display: tier labels as they are, ``lapsed``/``new`` translated."""
    if state == LAPSED:
        return t("migration.state_lapsed", language)
    if state == NEW:
        return t("migration.state_new", language)
    return str(state)


def _state_colors(labels, brand: Palette | None = None) -> dict[str, str]:
    return {**tier_palette(labels, brand), LAPSED: LAPSED_COLOR, NEW: NEW_COLOR}


def period_word(period: str, language: str) -> str:
    """The period as a word in a sentence: ``quarter`` / ``季度``."""
    return t(f"migration.period_{period}", language)


# --------------------------------------------------------------------------- charts


def _transition(result: Migration, period: int | None) -> pd.DataFrame:
    require(
        result.n_periods > 0,
        "There is no transition to draw: fewer than two snapshots",
        where="migration",
        hint="lengthen the analysis window or use migration.period: month",
    )
    k = result.n_periods if period is None else int(period)
    require(
        1 <= k <= result.n_periods,
        f"period {k} is out of range 1..{result.n_periods}",
        where="period",
    )
    return result.transitions[result.transitions["period"] == k]


def flow_chart(
    result: Migration,
    *,
    period: int | None = None,
    language: str,
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Alluvial diagram of one transition (default: the latest): customers by state at
    the start (left: tiers, lapsed customers who came back, new) and at the end (right:
    tiers, lapsed), joined by bands whose height is the number of customers. Bands of
    customers who changed state are drawn stronger than those who stayed. Customers
    lapsed at both dates are left out (a note gives their number), so the active base
    is not dwarfed by the dormant one. Returns the Axes."""
    charts.check_language(language)
    tr = _transition(result, period)
    charts.setup_fonts()
    dormant = int(
        tr.loc[(tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED), "customers"].sum()
    )
    tr = tr[~((tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED))]
    colors = _state_colors(result.labels, brand)
    left_states = [
        s for s in result.from_states if tr.loc[tr["from_state"] == s, "customers"].sum() > 0
    ]
    right_states = [s for s in result.states if tr.loc[tr["to_state"] == s, "customers"].sum() > 0]
    total = float(tr["customers"].sum())
    require(
        total > 0,
        "The transition has no active customers to draw",
        where="migration",
        error=DataError,
    )
    _, ax = charts.new_axes(ax, (charts.FIG_WIDTH, 3.7))
    ax.set_axis_off()
    gap = 0.025
    node_w = 0.035
    x_left, x_right = 0.16, 0.84
    scale = min(
        (1.0 - gap * (len(left_states) - 1)) / total, (1.0 - gap * (len(right_states) - 1)) / total
    )

    def layout(states, column):
        pos, y = {}, 1.0
        for s in states:
            n = float(tr.loc[tr[column] == s, "customers"].sum())
            h = n * scale
            pos[s] = (y, y - h, n)  # top, bottom, customers
            y -= h + gap
        return pos

    lpos, rpos = layout(left_states, "from_state"), layout(right_states, "to_state")
    lcur = {s: v[0] for s, v in lpos.items()}
    rcur = {s: v[0] for s, v in rpos.items()}
    flows = tr[tr["customers"] > 0]
    order_r = {s: i for i, s in enumerate(right_states)}
    order_l = {s: i for i, s in enumerate(left_states)}
    # bands leave each left node in the order of the right nodes and reach each right
    # node in the order of the left nodes, so they never cross inside a node
    start_y = {}
    for r in sorted(flows.itertuples(), key=lambda r: (order_l[r.from_state], order_r[r.to_state])):
        h = r.customers * scale
        start_y[(r.from_state, r.to_state)] = (lcur[r.from_state], lcur[r.from_state] - h)
        lcur[r.from_state] -= h
    x0, x1 = x_left + node_w, x_right - node_w
    xm = (x0 + x1) / 2
    for r in sorted(flows.itertuples(), key=lambda r: (order_r[r.to_state], order_l[r.from_state])):
        h = r.customers * scale
        ly0, ly1 = start_y[(r.from_state, r.to_state)]
        ry0, ry1 = rcur[r.to_state], rcur[r.to_state] - h
        rcur[r.to_state] -= h
        verts = [
            (x0, ly0),
            (xm, ly0),
            (xm, ry0),
            (x1, ry0),
            (x1, ry1),
            (xm, ry1),
            (xm, ly1),
            (x0, ly1),
            (x0, ly0),
        ]
        codes = [
            MplPath.MOVETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.LINETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CLOSEPOLY,
        ]
        moved = r.from_state != r.to_state
        ax.add_patch(
            PathPatch(
                MplPath(verts, codes),
                facecolor=colors[r.from_state],
                alpha=0.55 if moved else 0.22,
                edgecolor="none",
                zorder=1,
            )
        )
    for pos, x, side in ((lpos, x_left, "left"), (rpos, x_right - node_w, "right")):
        ys = []
        for s, (top, bottom, n) in pos.items():
            ax.add_patch(
                Rectangle(
                    (x, bottom),
                    node_w,
                    top - bottom,
                    facecolor=colors[s],
                    edgecolor="white",
                    linewidth=0.6,
                    zorder=2,
                )
            )
            ys.append((s, (top + bottom) / 2, n))
        for s, y, n in _spread(ys, min_gap=0.06):
            name = (
                t("migration.state_came_back", language)
                if side == "left" and s == LAPSED
                else state_name(s, language)
            )
            text = f"{name}  {charts.fmt_number(n, language)}"
            if side == "left":
                ax.text(
                    x - 0.012,
                    y,
                    text,
                    ha="right",
                    va="center",
                    fontsize=charts.TICK_SIZE,
                    color=charts.TEXT_COLOR,
                )
            else:
                ax.text(
                    x + node_w + 0.012,
                    y,
                    text,
                    ha="left",
                    va="center",
                    fontsize=charts.TICK_SIZE,
                    color=charts.TEXT_COLOR,
                )
    start, end = tr["period_start"].iloc[0], tr["period_end"].iloc[0]
    a_label = snapshot_label(start, period=result.spec.period, language=language)
    b_label = snapshot_label(end, period=result.spec.period, language=language)
    for x, text in ((x_left + node_w / 2, a_label), (x_right - node_w / 2, b_label)):
        ax.text(
            x,
            1.03,
            text,
            ha="center",
            va="bottom",
            fontsize=charts.LABEL_SIZE,
            fontweight="bold",
            color=charts.TEXT_COLOR,
        )
    low = min(min(v[1] for v in lpos.values()), min(v[1] for v in rpos.values()))
    ax.set_xlim(0, 1)
    ax.set_ylim(low - 0.01, 1.09)
    charts.set_title(ax, t("migration.flow_title", language, start=a_label, end=b_label))
    note = t("migration.flow_note", language)
    if dormant:
        note += "\n" + tn(
            "migration.flow_dormant", language, int(dormant), n=charts.fmt_number(dormant, language)
        )
    ax.text(
        0.5,
        -0.02,
        note,
        ha="center",
        va="top",
        fontsize=charts.NOTE_SIZE,
        color=charts.TEXT_COLOR,
        transform=ax.transAxes,
    )
    return ax


def _spread(
    items: list[tuple[str, float, float]], *, min_gap: float
) -> list[tuple[str, float, float]]:
    """Move label positions (top to bottom) apart to at least ``min_gap``, keeping order."""
    ys = [y for _, y, _ in items]
    for i in range(1, len(ys)):
        ys[i] = min(ys[i], ys[i - 1] - min_gap)
    # if pushed below the last node, shift everything up where there is room
    overflow = (items[-1][1] - ys[-1]) if items else 0
    if overflow > 0:
        ys = [y + overflow / 2 for y in ys]
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = max(ys[i], ys[i + 1] + min_gap)
    return [(s, y, n) for (s, _, n), y in zip(items, ys)]


def transition_heatmap(
    result: Migration,
    *,
    period: int | None = None,
    language: str,
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Transition matrix as a heatmap: rows are the states at the start (tiers, lapsed,
    new), columns the states at the end; colour and text give the row share (where the
    customers of a row went) with the number of customers. ``period=None`` pools all
    transitions (the average period), else one transition. Returns the Axes."""
    charts.check_language(language)
    require(
        result.n_periods > 0,
        "There is no transition to draw: fewer than two snapshots",
        where="migration",
        hint="lengthen the analysis window or use migration.period: month",
    )
    charts.setup_fonts()
    m = pooled_matrix(result, period=period)
    rows = [s for s in result.from_states if m.loc[m["from_state"] == s, "customers"].sum() > 0]
    cols = result.states
    share = np.full((len(rows), len(cols)), np.nan)
    count = np.zeros((len(rows), len(cols)), dtype=int)
    idx = {(r.from_state, r.to_state): r for r in m.itertuples()}
    for i, a in enumerate(rows):
        for j, b in enumerate(cols):
            r = idx.get((a, b))
            if r is not None:
                share[i, j] = r.row_share
                count[i, j] = r.customers
    fig, ax = charts.new_axes(ax, (charts.FIG_WIDTH * 0.82, 0.9 + 0.42 * len(rows)))
    # a brand's primary colour shades the cells (white to primary); else matplotlib's Blues
    ends = (brand or Palette()).cmap_colors()
    cmap = (
        mpl.colormaps["Blues"]
        if ends is None
        else mpl.colors.LinearSegmentedColormap.from_list("brand", list(ends))
    )
    im = ax.imshow(share, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = share[i, j]
            if not np.isfinite(v):
                continue
            colour = charts.text_colour_on(mpl.colors.to_hex(cmap(v)))
            ax.text(
                j,
                i,
                f"{charts.fmt_share(v)}\n{charts.fmt_number(count[i, j], language)}",
                ha="center",
                va="center",
                fontsize=charts.NOTE_SIZE,
                color=colour,
                linespacing=1.15,
            )
    ax.set_xticks(np.arange(len(cols)), [state_name(s, language) for s in cols])
    ax.set_yticks(np.arange(len(rows)), [state_name(s, language) for s in rows])
    ax.xaxis.tick_top()
    ax.tick_params(length=0, labelsize=charts.TICK_SIZE, colors=charts.TEXT_COLOR)
    for lab in ax.get_xticklabels():
        if lab.get_text() in result.labels:
            lab.set_fontweight("bold")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(len(cols) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    name = result.spec.period
    if period is None and result.n_periods == 1:
        period = 1  # all transitions pooled are the one transition: name it
    if period is None:
        where = t(
            "migration.heatmap_pooled",
            language,
            n=result.n_periods,
            period=period_word(name, language),
        )
    else:
        tr = result.transitions[result.transitions["period"] == period]
        where = t(
            "migration.heatmap_one",
            language,
            start=snapshot_label(tr["period_start"].iloc[0], period=name, language=language),
            end=snapshot_label(tr["period_end"].iloc[0], period=name, language=language),
        )
    charts.set_axis_labels(
        ax, x=t("migration.heatmap_xlabel", language), y=t("migration.heatmap_ylabel", language)
    )
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(
        t("migration.heatmap_xlabel", language),
        fontsize=charts.LABEL_SIZE,
        color=charts.TEXT_COLOR,
        labelpad=6,
    )
    charts.set_title(ax, t("migration.heatmap_title", language, where=where))
    cbar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=18)
    cbar.set_label(
        t("migration.heatmap_colorbar", language),
        fontsize=charts.NOTE_SIZE,
        color=charts.TEXT_COLOR,
    )
    cbar.ax.tick_params(labelsize=charts.NOTE_SIZE, length=2)
    cbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    cbar.outline.set_visible(False)
    return ax


def trend_chart(
    result: Migration, *, language: str, ax=None, brand: Palette | None = None
) -> Figure:
    """Two panels over the snapshots: customers per state (stacked bars: tiers, then
    lapsed on top) and each tier's share of the period's net revenue (lines). ``ax`` may
    be a pair of Axes. Returns the Figure."""
    charts.check_language(language)
    require(
        len(result.snapshot_dates) > 0,
        "There are no snapshots to draw",
        where="migration",
        hint="lengthen the analysis window",
    )
    charts.setup_fonts()
    if ax is None:
        fig, axes = plt.subplots(
            1, 2, figsize=(charts.FIG_WIDTH, 3.2), layout="constrained", facecolor="white"
        )
    else:
        axes = list(np.ravel(ax))
        require(
            len(axes) == 2 and all(isinstance(a, Axes) for a in axes),
            "ax must be a pair of Axes",
            where="ax",
        )
        fig = axes[0].figure
    a1, a2 = axes
    colors = _state_colors(result.labels, brand)
    s = result.sizes
    n = len(result.snapshot_dates)
    x = np.arange(n)
    ticks = tick_labels(result.snapshot_dates, period=result.spec.period, language=language)
    charts.style_axes(a1, grid="y")
    bottom = np.zeros(n)
    for state in result.states:
        v = (
            s[s["state"] == state]
            .set_index("snapshot")["customers"]
            .reindex(range(n), fill_value=0)
            .to_numpy(dtype=float)
        )
        a1.bar(
            x,
            v,
            bottom=bottom,
            width=0.7,
            color=colors[state],
            edgecolor="white",
            linewidth=0.4,
            label=state_name(state, language),
        )
        bottom += v
    a1.yaxis.set_major_formatter(charts.value_formatter(language, None))
    charts.set_title(a1, t("migration.trend_sizes", language))
    charts.style_axes(a2, grid="y")
    for lab in result.labels:
        v = (
            s[s["state"] == lab]
            .set_index("snapshot")["revenue_share"]
            .reindex(range(n))
            .to_numpy(dtype=float)
        )
        a2.plot(x, v, marker="o", markersize=3.5, linewidth=1.6, color=colors[lab], label=lab)
    a2.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    lo = float(np.nanmin(s["revenue_share"].to_numpy(dtype=float))) if len(s) else 0.0
    a2.set_ylim(min(0.0, lo * 1.1), 1.0)
    charts.set_title(a2, t("migration.trend_revenue", language))
    for a in (a1, a2):
        _set_ticks(a, x, ticks, 2)
    handles = [Patch(facecolor=colors[st], label=state_name(st, language)) for st in result.states]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        frameon=False,
        fontsize=charts.NOTE_SIZE,
    )
    return fig


def _set_ticks(ax: Axes, x, ticks: list[str], panels: int) -> None:
    """Period ticks: smaller type when many, turned 40 degrees when still too wide."""
    per_tick = 0.85 * charts.FIG_WIDTH / panels / max(len(ticks), 1)
    size = charts.TICK_SIZE if per_tick >= 0.42 else 6.5 if per_tick >= 0.3 else 5.5
    ax.set_xticks(x, ticks)
    ax.tick_params(axis="x", length=0, labelsize=size)
    # the period (first line) must fit its slot; the year (second line, at a few ticks
    # only) may reach a little into the next one
    period_w = max((charts.text_width(tk.split("\n")[0], size) for tk in ticks), default=0.0)
    year_w = max(
        (charts.text_width(tk.split("\n")[1], size) for tk in ticks if "\n" in tk), default=0.0
    )
    if period_w > 0.92 * per_tick or year_w > 1.1 * per_tick:
        ax.set_xticks(x, [tk.replace("\n", " ") for tk in ticks])
        ax.tick_params(axis="x", labelrotation=40)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
            lab.set_rotation_mode("anchor")


def rates_chart(
    result: Migration, *, language: str, ax=None, brand: Palette | None = None
) -> Figure:
    """Three panels over the transitions: churn (to lapsed), downgrade and upgrade rate
    of each tier, one line per tier in its colour. ``ax`` may be three Axes. Returns the
    Figure."""
    charts.check_language(language)
    require(
        result.n_periods > 0,
        "There is no transition to draw: fewer than two snapshots",
        where="migration",
        hint="lengthen the analysis window or use migration.period: month",
    )
    charts.setup_fonts()
    if ax is None:
        fig, axes = plt.subplots(
            1,
            3,
            figsize=(charts.FIG_WIDTH, 2.7),
            layout="constrained",
            facecolor="white",
            sharey=True,
        )
    else:
        axes = list(np.ravel(ax))
        require(
            len(axes) == 3 and all(isinstance(a, Axes) for a in axes),
            "ax must hold three Axes",
            where="ax",
        )
        fig = axes[0].figure
    r = result.tier_rates
    colors = _state_colors(result.labels, brand)
    n = result.n_periods
    x = np.arange(1, n + 1)
    ticks = tick_labels(result.snapshot_dates[1:], period=result.spec.period, language=language)
    top = 0.0
    for a, col, key in zip(
        axes,
        ("churn_rate", "downgrade_rate", "upgrade_rate"),
        ("rates_churn", "rates_down", "rates_up"),
    ):
        charts.style_axes(a, grid="y")
        for lab in result.labels:
            v = r[r["tier"] == lab].set_index("period")[col].reindex(x).to_numpy(dtype=float)
            if np.isfinite(v).any():
                a.plot(x, v, marker="o", markersize=3, linewidth=1.5, color=colors[lab], label=lab)
                top = max(top, float(np.nanmax(v)))
        charts.set_title(a, t(f"migration.{key}", language))
        _set_ticks(a, x, ticks, 3)
        a.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if n == 1:
            a.set_xlim(0.5, 1.5)
    axes[0].set_ylim(0, max(0.05, top * 1.15))
    handles = [
        Line2D([], [], color=colors[lab], marker="o", markersize=3, label=lab)
        for lab in result.labels
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        frameon=False,
        fontsize=charts.NOTE_SIZE,
        title=t("migration.rates_legend", language),
        title_fontsize=charts.NOTE_SIZE,
    )
    return fig
