"""Print-quality charts of tiers, in English or Chinese.

Every function takes its data first and options keyword-only, draws on ``ax`` (or on
a new figure sized for an A4 page with ~16 cm of text width) and returns the Axes, or
the Figure for multi-panel charts. Tier colours always come from
:func:`tiering.style.tier_palette` over the full ordered list of tier labels, so a
tier has the same colour in every chart; ``brand=`` (a :class:`tiering.style.Palette`,
default the house colours) gives a client's brand colours. Every word on a chart comes
from the i18n catalogue (``charts.*`` and ``metrics.*`` keys).

Importing this module changes no global state. The chart functions call
:func:`setup_fonts`, which registers a CJK-capable font with matplotlib and sets the
font rcParams so that Chinese and Latin text both render.

:func:`figure_html` turns a figure into a self-contained, deterministic
``<figure class="chart">`` HTML snippet for the report: an SVG (vector; its text stays
text), which the screen page and the PDF both show.

Longer than 800 lines because it holds both the public kit the other sections' charts
are drawn with (fonts, layout constants, axes and number helpers, :func:`figure_html`;
about 400 lines) and the six charts of the tiers and statistics sections, which also
use the kit's private helpers (``_tier_labels``, ``_require_columns``, ``_fmt_value``,
``_set_log_axis``). The next split is the kit into a module of its own, with those
helpers made public.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from tiering import locale
from tiering.errors import DataError, closest, require
from tiering.present.i18n import has, t, tn
from tiering.style import MUTED, Palette, tier_palette

logger = logging.getLogger(__name__)

__all__ = [
    "setup_fonts",
    "tier_overview",
    "pareto_curve",
    "metric_distributions",
    "recency_frequency_map",
    "median_forest",
    "effect_size_heatmap",
    "figure_html",
    "svg_bytes",
    "min_screen_width",
    "MIN_SCREEN_TEXT_PX",
    # the kit the charts of the other report sections are drawn with
    "FIG_WIDTH",
    "TEXT_COLOR",
    "AXIS_COLOR",
    "LABEL_SIZE",
    "TICK_SIZE",
    "NOTE_SIZE",
    "check_language",
    "new_axes",
    "style_axes",
    "set_title",
    "set_axis_labels",
    "metric_name",
    "fmt_number",
    "fmt_share",
    "value_formatter",
    "text_colour_on",
    "text_width",
]

# --------------------------------------------------------------------------- layout

FIG_WIDTH = 6.3  # inches: ~16 cm text width of an A4 page
TEXT_COLOR = "#333333"
AXIS_COLOR = "#888888"  # axis lines and reference lines
_GRID_COLOR = "#e6e6e6"
_TITLE_SIZE = 10
LABEL_SIZE = 8.5
TICK_SIZE = 8
NOTE_SIZE = 7.5
_BAND_ALPHA = 0.38
# Horizontal box plots: ``orientation`` since matplotlib 3.10 (``vert`` is deprecated there).
_HORIZONTAL = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in mpl.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)

# Columns whose values are money (formatted with the currency symbol).
_MONEY_COLUMNS = frozenset(
    {
        "monetary",
        "aov",
        "gross_revenue",
        "returns_value",
        "revenue",
        "next_revenue",
        "next_period_revenue",
    }
)

# --------------------------------------------------------------------------- fonts

# Preferred CJK families, best first (Simplified Chinese faces before the others).
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "STHeiti",
    "Microsoft YaHei",
    "Noto Serif CJK SC",
    "Source Han Serif SC",
)
# Well-known locations of those fonts (Debian/Ubuntu, Fedora, Arch, macOS, Windows).
_CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/msyhbd.ttc",
)
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
_PACKAGE_FONTS = Path(__file__).resolve().parents[1] / "fonts"
_PROBE = "中文等级客户"
# "sans-serif" is the CJK face found (first in font.sans-serif); matplotlib's own DejaVu Sans
# draws, glyph by glyph, what that face lacks (the brackets ⟦ ⟧ of a pseudo-language ...)
_FAMILY = ("sans-serif", "DejaVu Sans")

_font_state: dict[str, object] = {"resolved": False, "name": None}


def _fc_list_files() -> list[str]:
    """Font files fontconfig knows to cover Chinese (empty when fc-list is absent)."""
    exe = shutil.which("fc-list")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = {line.split(":")[0].strip() for line in out.splitlines() if line.strip()}
    return sorted(f for f in files if f.lower().endswith(_FONT_SUFFIXES))


def _register(paths) -> None:
    known = {os.path.realpath(f.fname) for f in font_manager.fontManager.ttflist}
    for path in paths:
        real = os.path.realpath(path)
        if real in known or not os.path.isfile(real):
            continue
        try:
            font_manager.fontManager.addfont(real)
        except (OSError, RuntimeError, ValueError) as exc:  # unreadable or unsupported file
            logger.debug("could not register font %s: %s", real, exc)
            continue
        known.add(real)


def _covers_chinese(entry) -> bool:
    try:
        font = font_manager.get_font(entry.fname)
        return all(font.get_char_index(ord(ch)) for ch in _PROBE)
    except (OSError, RuntimeError, ValueError):
        return False


def _discover_cjk_font() -> str | None:
    files = list(_CJK_FILES)
    if _PACKAGE_FONTS.is_dir():
        files += sorted(
            str(p) for p in _PACKAGE_FONTS.iterdir() if p.suffix.lower() in _FONT_SUFFIXES
        )
    _register(files)
    entries = font_manager.fontManager.ttflist
    by_name: dict[str, object] = {}
    for entry in entries:
        by_name.setdefault(entry.name, entry)
    for family in _CJK_FAMILIES:
        if family in by_name and _covers_chinese(by_name[family]):
            return family
    # Not found among the usual files: ask fontconfig, then accept any face with the glyphs.
    _register(_fc_list_files())
    by_name = {}
    for entry in font_manager.fontManager.ttflist:
        by_name.setdefault(entry.name, entry)
    for family in _CJK_FAMILIES:
        if family in by_name and _covers_chinese(by_name[family]):
            return family
    for name in sorted(by_name):
        if any(k in name for k in ("CJK", "Han", "Hei", "Song", "Kai", "Ming", "SC", "GB")):
            if _covers_chinese(by_name[name]):
                return name
    return None


def setup_fonts() -> str | None:
    """Register a CJK-capable font with matplotlib and make it the first sans-serif font.

    Looks for Noto Sans CJK (Debian ``fonts-noto-cjk``) and other common Chinese fonts
    at their usual paths, in ``tiering/fonts/`` and through ``fc-list``; registers the
    files with ``matplotlib.font_manager.fontManager.addfont`` (so a stale font cache
    does not matter) and sets ``font.family``/``font.sans-serif`` so that Chinese and
    Latin text both render (matplotlib's DejaVu Sans after the CJK face draws the
    symbols it lacks), plus ``axes.unicode_minus = False`` (CJK fonts lack the
    Unicode minus sign), ``text.parse_math = False`` and ``text.usetex = False``: tier
    labels, names and currencies are data, so a label such as ``$x$``, ``$$$`` or
    ``A_1^2`` is drawn as written, never parsed as mathtext or LaTeX (every chart of the
    package, also those in ``tiering.present.migration_charts`` and
    ``tiering.present.holdout``, calls this first, and tick labels made when the figure is
    drawn read the setting then).

    Returns the font family name, or None (after logging one warning) when no CJK font
    is installed; charts then still render, but Chinese characters show as boxes.
    Idempotent: the search runs once per process, the rcParams are set on every call
    (cheaply), so a later ``rcdefaults()`` does not break the charts.
    """
    if not _font_state["resolved"]:
        name = _discover_cjk_font()
        _font_state.update(resolved=True, name=name)
        if name is None:
            logger.warning(
                "No CJK font found: Chinese text in charts will render as empty boxes. "
                "Install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk) or put an "
                "OFL-licensed CJK font file in tiering/fonts/."
            )
    name = _font_state["name"]
    rc = mpl.rcParams
    if name is not None:
        rest = [f for f in rc["font.sans-serif"] if f != name]
        if rc["font.sans-serif"][:1] != [name]:
            rc["font.sans-serif"] = [name, *rest]
        if list(rc["font.family"]) != list(_FAMILY):
            rc["font.family"] = list(_FAMILY)
    rc["axes.unicode_minus"] = False
    rc["text.parse_math"] = False
    rc["text.usetex"] = False
    return name  # type: ignore[return-value]


# --------------------------------------------------------------------------- helpers


def check_language(language: str) -> None:
    """Refuse a language that has no catalogue (the first check of every chart)."""
    locale.get(language, where="language")


def _require_columns(df: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    require(
        isinstance(df, pd.DataFrame),
        f"{what} must be a pandas DataFrame, got {type(df).__name__}",
        error=DataError,
    )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        hints = [
            f"{m!r} (did you mean {closest(m, df.columns)!r}?)"
            if closest(m, df.columns)
            else repr(m)
            for m in missing
        ]
        raise DataError(
            f"{what} lacks column(s) {', '.join(hints)}",
            where=f"{what} columns: {', '.join(map(str, df.columns))}",
            hint=f"pass the {what} table produced by the tiering package",
        )


def _tier_labels(
    tier: pd.Series, rank: pd.Series | None = None, order: Sequence | None = None
) -> list[str]:
    """Ordered tier labels, best first: explicit order, categories, rank, or appearance."""
    if order is not None:
        return [str(x) for x in order]
    if isinstance(tier.dtype, pd.CategoricalDtype):
        return [str(c) for c in tier.cat.categories]
    if rank is not None:
        pairs = pd.DataFrame({"tier": tier.astype(str).to_numpy(), "rank": rank.to_numpy()})
        pairs = pairs.sort_values("rank", kind="stable").drop_duplicates("tier")
        return pairs["tier"].tolist()
    return [str(x) for x in pd.unique(tier.dropna().astype(str))]


def new_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new white figure of ``size`` inches when ``ax`` is None."""
    if ax is not None:
        require(isinstance(ax, Axes), f"ax must be a matplotlib Axes, got {type(ax).__name__}")
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained", facecolor="white")
    return fig, ax


def style_axes(ax: Axes, *, grid: str = "y") -> None:
    """The house look of an Axes: no top and right spines, light ``grid`` lines (x, y,
    both, or none when empty), small grey ticks."""
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(AXIS_COLOR)
        ax.spines[side].set_linewidth(0.8)
    if grid:
        ax.grid(True, axis=grid, color=_GRID_COLOR, linewidth=0.7)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=TICK_SIZE, colors=TEXT_COLOR, length=3, width=0.8)
    ax.tick_params(which="minor", length=0)


def set_title(ax: Axes, text: str) -> None:
    """A chart title in the house style: bold, left-aligned."""
    ax.set_title(text, loc="left", fontsize=_TITLE_SIZE, fontweight="bold", color=TEXT_COLOR, pad=8)


def set_axis_labels(ax: Axes, *, x: str | None = None, y: str | None = None) -> None:
    """Axis labels in the house style (only those given)."""
    if x is not None:
        ax.set_xlabel(x, fontsize=LABEL_SIZE, color=TEXT_COLOR)
    if y is not None:
        ax.set_ylabel(y, fontsize=LABEL_SIZE, color=TEXT_COLOR)


def metric_name(metric: str, language: str) -> str:
    """The display name of a metric column on a chart (``metrics.*`` in the catalogue;
    a column without one keeps its name)."""
    key = f"metrics.{metric}"
    return t(key, language) if has(key) else metric


def fmt_number(value: float, language: str) -> str:
    """A number for a label: thousands separators; 万/亿 (zh) or M/B (en) when large."""
    return locale.short_number(value, language)


def _fmt_value(value: float, language: str, currency: str | None) -> str:
    text = fmt_number(value, language)
    if currency and text != "–":
        return f"-{currency}{text[1:]}" if text.startswith("-") else f"{currency}{text}"
    return text


def fmt_share(share: float) -> str:
    """A share as a percentage: one decimal below 9.5 %, none above; ``–`` when not finite."""
    if not np.isfinite(share):
        return "–"
    if 0 < abs(share) < 0.095:
        return f"{share:.1%}"
    return f"{share:.0%}"


def value_formatter(language: str, currency: str | None) -> FuncFormatter:
    """A tick formatter writing values as :func:`fmt_number` does, with ``currency``."""
    return FuncFormatter(lambda v, _pos: _fmt_value(v, language, currency))


def _money(metric: str, currency: str | None) -> str | None:
    return currency if metric in _MONEY_COLUMNS else None


def _set_log_axis(
    axis, low: float, high: float, language: str, currency: str | None, *, max_ticks: int = 8
) -> None:
    """Plain-number ticks on a log axis: 1, 10, 100 ... (with 2 and 5, or 3, when they fit)."""
    low, high = max(low, 1e-300), max(high, low)
    subs = (1.0,)
    for option in ((1.0, 2.0, 5.0), (1.0, 3.0)):
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            for m in option
        ]
        if sum(low <= v <= high for v in ticks) <= max_ticks:
            subs = option
            break
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(value_formatter(language, currency))
    axis.set_minor_formatter(NullFormatter())


def text_colour_on(hex_colour: str) -> str:
    """White or dark text, whichever reads better on a ``hex_colour`` background."""
    r, g, b = mpl.colors.to_rgb(hex_colour)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.55 else TEXT_COLOR


# --------------------------------------------------------------------------- charts


def _tint(colour, share: float) -> str:
    """``share`` of ``colour`` on white, as an opaque colour."""
    rgb = np.asarray(mpl.colors.to_rgb(colour))
    return mpl.colors.to_hex(share * rgb + (1.0 - share))


def _n_customers(n, language: str) -> str:
    """A number of customers on a chart: "1,234 customers", "1 customer", "no customers"."""
    count = int(n) if pd.notna(n) else None
    return tn("charts.n_customers", language, count, n=fmt_number(n, language))


def tier_overview(
    tier_summary: pd.DataFrame,
    *,
    language: str,
    currency: str = "¥",
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Paired bars per tier: share of customers next to share of revenue.

    ``tier_summary`` needs ``tier, tier_rank, customers, customer_share, revenue,
    revenue_share`` (shares 0-1). The light hatched bar is the customer share, the solid
    bar the revenue share, both in the tier's colour and labelled with percentages; the
    tick labels give the tier, its number of customers and its revenue in ``currency``.
    """
    check_language(language)
    _require_columns(
        tier_summary,
        ["tier", "tier_rank", "customers", "customer_share", "revenue", "revenue_share"],
        what="tier_summary",
    )
    setup_fonts()
    data = tier_summary.sort_values("tier_rank", kind="stable").reset_index(drop=True)
    labels = _tier_labels(data["tier"], data["tier_rank"])
    palette = tier_palette(labels, brand)
    rows = {str(r.tier): r for r in data.itertuples(index=False)}
    shown = [lab for lab in labels if lab in rows]

    fig, ax = new_axes(ax, (FIG_WIDTH, 3.3))
    style_axes(ax, grid="y")
    x = np.arange(len(shown))
    width = 0.38
    cust = np.array([float(rows[lab].customer_share) for lab in shown])
    rev = np.array([float(rows[lab].revenue_share) for lab in shown])
    colours = [palette[lab] for lab in shown]
    bars_c = ax.bar(
        x - width / 2,
        cust,
        width,
        # 28% of the colour on white, opaque: a translucent face would hide the hatch in
        # SVG (matplotlib fills the hatch pattern's tile with the face's colour)
        color=[_tint(c, 0.28) for c in colours],
        edgecolor=colours,
        linewidth=1.0,
        hatch="////",
    )
    for bar, c in zip(bars_c, colours):  # hatch in the tier colour (matplotlib >= 3.10)
        if hasattr(bar, "set_hatchcolor"):
            bar.set_hatchcolor(mpl.colors.to_rgba(c, 0.7))
            bar.set_hatch_linewidth(0.6)
    bars_r = ax.bar(x + width / 2, rev, width, color=colours, edgecolor=colours, linewidth=1.0)
    label_size = NOTE_SIZE if len(shown) <= 5 else 6.5
    ax.bar_label(
        bars_c,
        labels=[fmt_share(v) for v in cust],
        padding=2,
        fontsize=label_size,
        color=TEXT_COLOR,
    )
    ax.bar_label(
        bars_r,
        labels=[fmt_share(v) for v in rev],
        padding=2,
        fontsize=label_size,
        color=TEXT_COLOR,
        fontweight="bold",
    )

    tick_labels = [
        f"{lab}\n{_n_customers(rows[lab].customers, language)}"
        f"\n{_fmt_value(float(rows[lab].revenue), language, currency)}"
        for lab in shown
    ]
    ax.set_xticks(x, tick_labels)
    ax.tick_params(axis="x", length=0, labelsize=TICK_SIZE if len(shown) <= 5 else 7)
    top = max(float(np.nanmax(np.r_[cust, rev])) if len(shown) else 1.0, 0.05)
    ax.set_ylim(min(0.0, float(np.nanmin(np.r_[rev, 0.0]))) * 1.15, top * 1.18)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(-0.6, len(shown) - 0.4)
    set_axis_labels(ax, y=t("charts.overview_ylabel", language))
    set_title(ax, t("charts.overview_title", language))
    grey = "#9a9a9a"
    handles = [
        Patch(
            facecolor=_tint(grey, 0.28),
            edgecolor=grey,
            hatch="////",
            label=t("metrics.customer_share", language),
        ),
        Patch(facecolor=grey, edgecolor=grey, label=t("metrics.revenue_share", language)),
    ]
    # Above the plot area, level with the title: never on top of a tall bar.
    ax.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        fontsize=TICK_SIZE,
        ncols=2,
        borderaxespad=0.2,
        handlelength=1.6,
    )
    return ax


def _tier_codes(tier: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's tier as an index into ``names`` (the tiers as text, as
    ``tier.astype(str)`` writes them): no Python string per customer."""
    if isinstance(tier.dtype, pd.CategoricalDtype):
        # code -1 (missing) becomes 0: names[0] is how astype(str) writes a missing tier
        codes = tier.cat.codes.to_numpy().astype(np.intp) + 1
        uniques = pd.Categorical.from_codes(
            np.arange(-1, len(tier.cat.categories)), dtype=tier.dtype
        )
    else:
        codes, uniques = pd.factorize(tier, use_na_sentinel=False)
    names = pd.Series(uniques, dtype=tier.dtype).astype(str).to_numpy()
    return codes, names


#: Rows tied on spend and tier rank but in different tiers that are put in customer-id
#: order one group at a time; beyond this many, the whole table is sorted instead.
_TIE_GROUPS_MAX = 1000


def _spend_order(tiered: pd.DataFrame, m: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The row order of a stable sort by spend (desc), ``tier_rank`` and ``customer_id``
    (when those columns exist; missing values last), as far as it shows in the tiers:
    rows tied on spend and rank that are all in one tier keep the table's order (their
    order changes neither the curve nor the tier bands). NumPy on numbers, not a sort of
    every customer id as text."""
    rank = tiered["tier_rank"] if "tier_rank" in tiered.columns else None
    if rank is not None and not (
        pd.api.types.is_numeric_dtype(rank.dtype) and not pd.api.types.is_bool_dtype(rank.dtype)
    ):
        return _spend_order_pandas(tiered, m)
    r = None if rank is None else rank.to_numpy(dtype=float, na_value=np.nan)
    order = np.argsort(-m, kind="stable")
    ms = m[order]
    same = ms[1:] == ms[:-1]
    if r is not None and same.any():  # rows tied on spend, by rank (a stable sort)
        tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
        group = np.cumsum(np.r_[True, ~same])[tied]
        order[tied] = order[tied][np.lexsort((r[order[tied]], group))]
    if "customer_id" not in tiered.columns or len(m) < 2:
        return order
    if r is not None:
        rs = r[order]
        same &= (rs[1:] == rs[:-1]) | (np.isnan(rs[1:]) & np.isnan(rs[:-1]))
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], len(m)]
    cs = codes[order]
    mixed = np.flatnonzero(np.minimum.reduceat(cs, starts) != np.maximum.reduceat(cs, starts))
    if len(mixed) > _TIE_GROUPS_MAX:
        return _spend_order_pandas(tiered, m)
    ids = tiered["customer_id"]
    for g in mixed:
        part = order[starts[g] : ends[g]]
        by_id = ids.iloc[part].reset_index(drop=True).sort_values(kind="mergesort")
        order[starts[g] : ends[g]] = part[by_id.index.to_numpy()]
    return order


def _spend_order_pandas(tiered: pd.DataFrame, m: np.ndarray) -> np.ndarray:
    """:func:`_spend_order` by a pandas sort of the whole table (any column types)."""
    sort_by, ascending = ["monetary"], [False]
    for col in ("tier_rank", "customer_id"):
        if col in tiered.columns:
            sort_by.append(col)
            ascending.append(True)
    data = tiered[sort_by].reset_index(drop=True).assign(monetary=m)
    return data.sort_values(sort_by, ascending=ascending, kind="mergesort").index.to_numpy()


def _concentration(tiered: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Customers sorted by spend (desc): tier labels in that order, x, y (with 0) and Gini.

    The labels come as ``(codes, names)``: customer i's tier is ``names[codes[i]]``.
    """
    m = pd.to_numeric(tiered["monetary"], errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(m)
    require(
        not missing.any(),
        f"'monetary' has {int(missing.sum())} missing or non-numeric values",
        where="tiered['monetary']",
        hint="fill or drop those customers before charting",
        error=DataError,
    )
    codes, names = _tier_codes(tiered["tier"])
    order = _spend_order(tiered, m, codes)
    m = m[order]
    total = float(m.sum())
    require(
        total > 0,
        f"Total net spend is {total:,.2f}; a revenue concentration curve needs a positive total",
        where="tiered['monetary']",
        error=DataError,
    )
    n = len(m)
    x = np.arange(0, n + 1) / n
    y = np.r_[0.0, np.cumsum(m) / total]
    area = float(np.sum((y[1:] + y[:-1]) / 2.0) / n)
    gini = 2.0 * area - 1.0
    return (codes[order], names), x, y, gini


def pareto_curve(
    tiered: pd.DataFrame,
    *,
    language: str,
    cutoffs: Sequence[float] = (0.8, 0.95),
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Cumulative share of revenue against cumulative share of customers (Lorenz style).

    Customers are sorted by ``monetary`` (net spend) from highest to lowest; the area
    under the curve is shaded in the colour of each customer's tier (stripes where tiers
    are not contiguous in spend order, as with RFM tiers); each revenue ``cutoffs`` level
    is marked where it is first reached, labelled with the actual shares of customers
    and of revenue there (two levels reached by the same customer are marked once); the dashed diagonal is the
    line of equality; the legend title states the Gini coefficient,
    ``2 * area under the curve - 1`` (0 = everyone spends the same, near 1 = one
    customer has all revenue; above 1 is possible when some net spend is negative).
    The curve is drawn with at most ~2,000 points whatever the number of customers.
    """
    check_language(language)
    _require_columns(tiered, ["tier", "monetary"], what="tiered")
    require(len(tiered) > 0, "tiered has no customers", where="tiered", error=DataError)
    for c in cutoffs:
        require(
            0 < float(c) < 1,
            f"cut-off {c!r} is not a share between 0 and 1",
            where="cutoffs",
            hint="use revenue shares such as (0.8, 0.95)",
        )
    setup_fonts()
    labels = _tier_labels(tiered["tier"], tiered.get("tier_rank"))
    palette = tier_palette(labels, brand)
    (tier_codes, tier_names), x, y, gini = _concentration(tiered)
    n = len(tier_codes)

    fig, ax = new_axes(ax, (FIG_WIDTH, 3.6))
    style_axes(ax, grid="both")

    # Tier bands: run-length encode the tier sequence (on at most 500 bins of customers).
    n_bins = min(n, 500)
    edges = np.linspace(0, n, n_bins + 1).round().astype(int)
    mids = np.minimum((edges[:-1] + edges[1:]) // 2, n - 1)
    bin_tiers = tier_names[tier_codes[mids]]
    change = np.flatnonzero(bin_tiers[1:] != bin_tiers[:-1]) + 1
    run_starts = np.r_[0, change]
    run_ends = np.r_[change, n_bins]
    grid = np.unique(np.r_[np.linspace(0, n, min(n, 2000) + 1).round().astype(int), edges])
    for start, end in zip(run_starts, run_ends):
        lo, hi = edges[start], edges[end]
        pts = grid[(grid >= lo) & (grid <= hi)]
        ax.fill_between(
            x[pts],
            0,
            y[pts],
            color=palette.get(bin_tiers[start], MUTED),
            alpha=_BAND_ALPHA,
            linewidth=0,
        )
    ax.plot(x[grid], y[grid], color=TEXT_COLOR, linewidth=1.6, zorder=3)
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=1.0, zorder=2)

    marked: set[int] = set()
    for c in sorted(float(v) for v in cutoffs):
        k = int(np.argmax(y >= c))
        if y[k] < c or k in marked:  # not reached, or the same customer as a lower level
            continue
        marked.add(k)
        # the point where the level is first reached, labelled with its actual shares
        # (with few customers one customer can take the revenue well past the level)
        xc, yc = float(x[k]), float(y[k])
        ax.plot([0, xc, xc], [yc, yc, 0], color=TEXT_COLOR, linestyle=":", linewidth=0.9, zorder=3)
        ax.plot([xc], [yc], marker="o", markersize=4, color=TEXT_COLOR, zorder=4)
        right = xc <= 0.55  # label on the side with room, below the curve
        ax.annotate(
            t("charts.pareto_cutoff", language, revenue=fmt_share(yc), customers=fmt_share(xc)),
            (xc, yc),
            xytext=(7 if right else -7, -4),
            textcoords="offset points",
            va="top",
            ha="left" if right else "right",
            fontsize=NOTE_SIZE,
            color=TEXT_COLOR,
            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85),
        )

    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(y.min())), max(1.0, float(y.max())) * 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    set_axis_labels(
        ax, x=t("charts.pareto_xlabel", language), y=t("charts.pareto_ylabel", language)
    )
    set_title(ax, t("charts.pareto_title", language))
    present = set(tier_names[np.unique(tier_codes)])
    handles = [
        Patch(facecolor=mpl.colors.to_rgba(palette[lab], _BAND_ALPHA), edgecolor="none", label=lab)
        for lab in labels
        if lab in present
    ]
    handles += [
        Line2D([], [], color=TEXT_COLOR, linewidth=1.6, label=t("charts.pareto_curve", language)),
        Line2D(
            [],
            [],
            color=MUTED,
            linestyle="--",
            linewidth=1.0,
            label=t("charts.equality_line", language),
        ),
    ]
    leg = ax.legend(
        handles=handles,
        loc="lower right",
        fontsize=NOTE_SIZE,
        frameon=True,
        framealpha=0.92,
        edgecolor="none",
        title=t("charts.gini", language, gini=f"{gini:.2f}"),
        title_fontsize=TICK_SIZE,
    )
    leg._legend_box.align = "left"  # noqa: SLF001 - left-align the title
    return ax


def _denoise(values: np.ndarray) -> np.ndarray:
    """Set floating-point residue (e.g. 1e-15 left by summing sales and returns) to zero."""
    finite = np.isfinite(values)
    if not finite.any():
        return values
    scale = float(np.max(np.abs(values[finite])))
    out = values.copy()
    out[finite & (np.abs(values) < scale * 1e-9)] = 0.0
    return out


def _scale_plan(values: np.ndarray) -> tuple[str, int, float]:
    """('linear'|'log'|'symlog', number of values dropped, symlog linear threshold)."""
    v = values[np.isfinite(values)]
    pos = v[v > 0]
    nonpos = int(len(v) - len(pos))
    if len(pos) < 2:
        return "linear", 0, 1.0
    p5, p95 = np.percentile(pos, [5, 95])
    if p95 / max(p5, 1e-12) < 10:
        return "linear", 0, 1.0
    if nonpos == 0:
        return "log", 0, 1.0
    if nonpos <= 0.02 * len(v):
        return "log", nonpos, 1.0
    return "symlog", 0, float(max(p5, pos.min()))


def _box_stats(values: np.ndarray, label: str) -> dict:
    q5, q25, q50, q75, q95 = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "label": label,
        "med": q50,
        "q1": q25,
        "q3": q75,
        "whislo": q5,
        "whishi": q95,
        "fliers": np.array([]),
    }


def metric_distributions(
    tiered: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("monetary", "frequency", "recency_days", "aov"),
    language: str,
    currency: str = "¥",
    ax=None,
    brand: Palette | None = None,
) -> Figure:
    """One panel per metric: box plots by tier (best tier on top), in tier colours.

    Boxes span the quartiles, the white line is the median, whiskers reach the 5th and
    95th percentiles (no outlier points, so millions of customers stay light). A panel
    whose values span more than a factor 10 (5th to 95th percentile) uses a log scale;
    when at most 2% of its values are <= 0 they are left out and the axis label says how
    many, otherwise a symmetric log scale keeps them. ``ax`` may be a sequence of one
    Axes per metric. Money metrics are labelled with ``currency``. Returns the Figure.
    """
    check_language(language)
    metrics = list(metrics)
    require(len(metrics) > 0, "no metrics to plot", where="metrics")
    _require_columns(tiered, ["tier", *metrics], what="tiered")
    setup_fonts()
    labels = _tier_labels(tiered["tier"], tiered.get("tier_rank"))
    palette = tier_palette(labels, brand)
    codes, names = _tier_codes(tiered["tier"])
    # each tier's rows, once for every panel
    in_tier = [np.isin(codes, np.flatnonzero(names == lab)) for lab in labels]

    if ax is None:
        ncols = 1 if len(metrics) == 1 else 2
        nrows = math.ceil(len(metrics) / ncols)
        height = 0.9 + nrows * (0.9 + 0.28 * len(labels))
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(FIG_WIDTH, height),
            sharey=True,
            layout="constrained",
            facecolor="white",
            squeeze=False,
        )
        axes = list(axes.ravel())
        for extra in axes[len(metrics) :]:
            extra.set_visible(False)
        axes = axes[: len(metrics)]
    else:
        axes = [ax] if isinstance(ax, Axes) else list(np.ravel(ax))
        require(
            len(axes) == len(metrics) and all(isinstance(a, Axes) for a in axes),
            f"ax must hold one Axes per metric ({len(metrics)}), got {len(axes)}",
            where="ax",
        )
        fig = axes[0].figure

    positions = np.arange(len(labels))
    for _i, (metric, a) in enumerate(zip(metrics, axes)):
        values = _denoise(pd.to_numeric(tiered[metric], errors="coerce").to_numpy(dtype=float))
        scale, dropped, linthresh = _scale_plan(values)
        keep = np.isfinite(values) & ((values > 0) if scale == "log" else True)
        stats, pos, colours = [], [], []
        for p, lab, rows in zip(positions, labels, in_tier):
            v = values[keep & rows]
            if len(v):
                stats.append(_box_stats(v, lab))
                pos.append(p)
                colours.append(palette[lab])
        style_axes(a, grid="x")
        if stats:
            art = a.bxp(
                stats,
                positions=pos,
                **_HORIZONTAL,
                widths=0.62,
                patch_artist=True,
                showfliers=False,
                manage_ticks=False,
                boxprops=dict(linewidth=0.8, edgecolor=TEXT_COLOR),
                medianprops=dict(color="white", linewidth=1.8, solid_capstyle="butt"),
                whiskerprops=dict(color=TEXT_COLOR, linewidth=0.8),
                capprops=dict(color=TEXT_COLOR, linewidth=0.8),
            )
            for box, c in zip(art["boxes"], colours):
                box.set_facecolor(c)
            for med, c in zip(art["medians"], colours):  # white on dark boxes, dark on light
                med.set_color(text_colour_on(c))
        money = _money(metric, currency)
        if scale == "log":
            a.set_xscale("log")
            lo = min(s["whislo"] for s in stats) if stats else 1.0
            hi = max(s["whishi"] for s in stats) if stats else 10.0
            _set_log_axis(a.xaxis, lo, hi, language, money, max_ticks=5 if len(axes) > 1 else 8)
            note = (
                tn("charts.scale_log_dropped", language, dropped, n=fmt_number(dropped, language))
                if dropped
                else t("charts.scale_log", language)
            )
        elif scale == "symlog":
            a.set_xscale("symlog", linthresh=linthresh)
            a.xaxis.set_major_formatter(value_formatter(language, money))
            a.xaxis.set_minor_formatter(NullFormatter())
            note = t("charts.scale_symlog", language)
        else:
            a.xaxis.set_major_formatter(value_formatter(language, money))
            note = None
        a.set_title(
            metric_name(metric, language),
            loc="left",
            fontsize=LABEL_SIZE + 0.5,
            color=TEXT_COLOR,
            fontweight="bold",
        )
        if note:
            a.set_xlabel(note, fontsize=NOTE_SIZE, color=MUTED)
        a.set_yticks(positions, labels)
        a.set_ylim(len(labels) - 0.5, -0.5)  # best tier on top
        a.tick_params(axis="y", length=0)
        a.tick_params(axis="x", labelsize=NOTE_SIZE)
    if ax is None:
        fig.suptitle(
            t("charts.dist_title", language),
            x=0.01,
            ha="left",
            fontsize=_TITLE_SIZE,
            fontweight="bold",
            color=TEXT_COLOR,
        )
        fig.supxlabel(
            t("charts.dist_note", language), x=0.01, ha="left", fontsize=NOTE_SIZE, color=MUTED
        )
    return fig


def recency_frequency_map(
    tiered: pd.DataFrame,
    *,
    language: str,
    currency: str = "¥",
    max_points: int = 20_000,
    seed: int = 0,
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Scatter of days since last purchase (x) against net spend (y, log), coloured by tier.

    With more than ``max_points`` customers a uniform random sample (``seed``) is drawn
    and the x-axis label says so. Customers with spend <= 0 cannot sit on the log axis;
    they are left out and counted in the label. The lowest tier is drawn first so the
    (usually small) top tier stays visible.
    """
    check_language(language)
    _require_columns(tiered, ["tier", "recency_days", "monetary"], what="tiered")
    require(int(max_points) > 0, "max_points must be positive", where="max_points")
    setup_fonts()
    labels = _tier_labels(tiered["tier"], tiered.get("tier_rank"))
    palette = tier_palette(labels, brand)
    n_all = len(tiered)
    monetary_all = _denoise(
        pd.to_numeric(tiered["monetary"], errors="coerce").to_numpy(dtype=float)
    )
    data = tiered
    sampled = n_all > max_points
    if sampled:
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(n_all, size=int(max_points), replace=False))
        data = tiered.iloc[take]
    rec = pd.to_numeric(data["recency_days"], errors="coerce").to_numpy(dtype=float)
    mon = monetary_all[take] if sampled else monetary_all
    tiers = data["tier"].astype(str).to_numpy()
    ok = np.isfinite(rec) & np.isfinite(mon)
    positive = ok & (mon > 0)
    dropped_all = int((monetary_all <= 0).sum())

    fig, ax = new_axes(ax, (FIG_WIDTH, 3.6))
    style_axes(ax, grid="both")
    n_shown = int(positive.sum())
    size = 14 if n_shown < 2_000 else (7 if n_shown < 10_000 else 4)
    alpha = 0.75 if n_shown < 2_000 else 0.45
    for lab in reversed(labels):
        sel = positive & (tiers == lab)
        if sel.any():
            ax.scatter(
                rec[sel],
                mon[sel],
                s=size,
                color=palette[lab],
                alpha=alpha,
                linewidths=0,
                rasterized=True,
                label=lab,
            )
    ax.set_yscale("log")
    if n_shown:
        _set_log_axis(
            ax.yaxis, float(mon[positive].min()), float(mon[positive].max()), language, currency
        )
    ax.xaxis.set_major_formatter(value_formatter(language, None))
    ax.set_xlim(left=min(0.0, float(np.nanmin(rec)) if len(rec) else 0.0))
    notes = []
    if sampled:
        notes.append(
            t(
                "charts.rf_sample",
                language,
                k=fmt_number(max_points, language),
                n=fmt_number(n_all, language),
            )
        )
    if dropped_all:
        notes.append(
            tn("charts.rf_dropped", language, dropped_all, n=fmt_number(dropped_all, language))
        )
    sep = locale.get(language).clause_sep
    xlabel = t("metrics.recency_days", language)
    if notes:
        xlabel += "\n" + sep.join(notes)
    set_axis_labels(ax, x=xlabel, y=t("metrics.monetary", language))
    set_title(ax, t("charts.rf_title", language))
    handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=5, color=palette[lab], label=lab)
        for lab in labels
        if (positive & (tiers == lab)).any()
    ]
    ax.legend(
        handles=handles,
        title=t("metrics.tier", language),
        fontsize=NOTE_SIZE,
        title_fontsize=NOTE_SIZE,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        borderaxespad=0,
    )
    return ax


def median_forest(
    stats_summary: pd.DataFrame,
    *,
    metric: str = "monetary",
    language: str,
    currency: str = "¥",
    tier_order: Sequence | None = None,
    ax: Axes | None = None,
    brand: Palette | None = None,
) -> Axes:
    """Median of ``metric`` per tier (dot) with its 95% confidence interval (bar).

    ``stats_summary`` needs ``metric, tier, n, median, median_ci_low, median_ci_high``.
    Tiers are ordered by ``tier_order``, else by the categories of ``tier``, else as they
    appear; tiers without a median (no customers) are left out, keeping their colours. A
    missing interval (n < 2) leaves the dot alone. The x-axis is logarithmic when all values are positive and span more than a
    factor 10. Each dot is labelled with the median.
    """
    check_language(language)
    _require_columns(
        stats_summary,
        ["metric", "tier", "n", "median", "median_ci_low", "median_ci_high"],
        what="stats_summary",
    )
    available = [str(m) for m in pd.unique(stats_summary["metric"])]
    if metric not in available:
        guess = closest(metric, available)
        raise DataError(
            f"stats_summary has no rows for metric {metric!r}",
            where=f"stats_summary['metric'] values: {', '.join(available)}",
            hint=f"did you mean {guess!r}?" if guess else "pick one of those metrics",
        )
    setup_fonts()
    labels = _tier_labels(stats_summary["tier"], order=tier_order)
    palette = tier_palette(labels, brand)
    rows = stats_summary[stats_summary["metric"] == metric]
    by_tier = {
        str(r.tier): r
        for r in rows.itertuples(index=False)
        if pd.notna(r.median) and np.isfinite(float(r.median))
    }  # empty tiers: no row
    require(
        len(by_tier) > 0,
        f"stats_summary has no median for metric {metric!r}",
        where="stats_summary",
        error=DataError,
    )
    shown = [lab for lab in labels if lab in by_tier]
    med = np.array([float(by_tier[lab].median) for lab in shown])
    lo = np.array([_float(by_tier[lab].median_ci_low) for lab in shown])
    hi = np.array([_float(by_tier[lab].median_ci_high) for lab in shown])
    lo = np.where(np.isfinite(lo), lo, med)
    hi = np.where(np.isfinite(hi), hi, med)

    fig, ax = new_axes(ax, (FIG_WIDTH, 0.9 + 0.42 * max(len(shown), 2)))
    style_axes(ax, grid="x")
    money = _money(metric, currency)
    for i, lab in enumerate(shown):
        c = palette[lab]
        ax.errorbar(
            med[i],
            i,
            xerr=[[max(med[i] - lo[i], 0)], [max(hi[i] - med[i], 0)]],
            fmt="o",
            color=c,
            ecolor=c,
            elinewidth=2.0,
            capsize=3.5,
            capthick=1.2,
            markersize=6,
            markeredgecolor="white",
            markeredgewidth=0.8,
            zorder=3,
        )
        ax.annotate(
            _fmt_value(med[i], language, money),
            (hi[i], i),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=NOTE_SIZE,
            color=TEXT_COLOR,
        )
    finite = np.r_[lo, hi, med][np.isfinite(np.r_[lo, hi, med])]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 10:
        ax.set_xscale("log")
        _set_log_axis(ax.xaxis, float(finite.min()), float(finite.max()), language, money)
        span = math.log10(finite.max() / finite.min())
        ax.set_xlim(finite.min() / 10 ** (0.05 * span), finite.max() * 10 ** (0.18 * span))
    else:
        ax.xaxis.set_major_formatter(value_formatter(language, money))
        if len(finite):
            span = max(finite.max() - finite.min(), abs(finite.max()) * 0.1, 1e-9)
            ax.set_xlim(min(0.0, finite.min() - 0.05 * span), finite.max() + 0.2 * span)
    tick = [
        t("charts.tier_n", language, tier=lab, n=fmt_number(float(by_tier[lab].n), language))
        for lab in shown
    ]
    ax.set_yticks(np.arange(len(shown)), tick)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    name = metric_name(metric, language)
    name = locale.get(language).in_sentence(name)  # inside a sentence: "Median net spend"
    set_axis_labels(ax, x=t("charts.forest_xlabel", language, metric=name))
    set_title(ax, t("charts.forest_title", language, metric=name))
    return ax


def text_width(text: str, size: float = TICK_SIZE) -> float:
    """Rough width in inches of one line of text: 1 em per CJK character, 0.52 em otherwise."""
    ems = sum(1.0 if ord(ch) > 0x2E80 else 0.52 for ch in text)
    return ems * size / 72


def _wrap(text: str, width_in: float) -> str:
    """Wrap a label to lines no wider than ``width_in`` (at spaces; CJK anywhere)."""
    if text_width(text) <= width_in:
        return text
    lines, line = [], ""
    tokens = text.split(" ") if " " in text else list(text)
    joiner = " " if " " in text else ""
    for token in tokens:
        candidate = f"{line}{joiner}{token}" if line else token
        if line and text_width(candidate) > width_in:
            lines.append(line)
            line = token
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines)


def _float(value) -> float:
    return float(value) if pd.notna(value) else np.nan


def _stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def effect_size_heatmap(
    tests: pd.DataFrame,
    *,
    language: str,
    tier_order: Sequence | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cliff's delta of every pair of tiers on every metric, from Dunn's test rows.

    Rows of ``tests`` with ``test == "dunn"`` and ``effect_size_name == "cliffs_delta"``
    are used. Pairs are oriented better tier first (the sign of delta is flipped where
    needed), so a positive delta means the better tier tends to have higher values.
    Colour: diverging scale -1..1; each cell shows delta and stars for the adjusted
    p-value (``p_adj``). Metrics are rows and pairs columns; with more than 6 pairs
    (5+ tiers) the table is transposed (pairs as rows) so cells stay legible.
    """
    check_language(language)
    _require_columns(
        tests,
        ["metric", "test", "group1", "group2", "effect_size_name", "effect_size", "p_adj"],
        what="tests",
    )
    rows = tests[(tests["test"] == "dunn") & (tests["effect_size_name"] == "cliffs_delta")]
    require(
        len(rows) > 0,
        "tests has no Dunn rows with Cliff's delta to draw",
        where="tests['test'] / tests['effect_size_name']",
        hint="run the Kruskal-Wallis + Dunn comparison (the default) before this chart",
        error=DataError,
    )
    setup_fonts()
    if tier_order is None:
        appear = pd.unique(pd.Series(np.ravel(rows[["group1", "group2"]].astype(str).to_numpy())))
        tier_order = list(appear)
    order = {lab: i for i, lab in enumerate(str(x) for x in tier_order)}
    metrics = [str(m) for m in pd.unique(rows["metric"])]
    cells: dict[tuple[str, tuple[str, str]], tuple[float, float]] = {}
    pairs: set[tuple[str, str]] = set()
    for r in rows.itertuples(index=False):
        g1, g2 = str(r.group1), str(r.group2)
        d = float(r.effect_size) if pd.notna(r.effect_size) else np.nan
        if order.get(g1, 0) > order.get(g2, 0):
            g1, g2, d = g2, g1, -d
        pairs.add((g1, g2))
        cells[(str(r.metric), (g1, g2))] = (d, float(r.p_adj) if pd.notna(r.p_adj) else np.nan)
    pair_list = sorted(pairs, key=lambda p: (order.get(p[0], 99), order.get(p[1], 99)))
    matrix = np.full((len(metrics), len(pair_list)), np.nan)
    pvals = np.full_like(matrix, np.nan)
    for i, m in enumerate(metrics):
        for j, p in enumerate(pair_list):
            if (m, p) in cells:
                matrix[i, j], pvals[i, j] = cells[(m, p)]
    metric_labels = [metric_name(m, language) for m in metrics]
    pair_labels = [t("charts.effect_pair", language, a=a, b=b) for a, b in pair_list]
    transpose = len(pair_list) > 6
    if transpose:
        matrix, pvals = matrix.T, pvals.T
        row_labels, col_labels = pair_labels, metric_labels
        row_axis, col_axis = (
            t("charts.effect_pair_axis", language),
            t("charts.effect_metric_axis", language),
        )
    else:
        row_labels, col_labels = metric_labels, pair_labels
        row_axis, col_axis = (
            t("charts.effect_metric_axis", language),
            t("charts.effect_pair_axis", language),
        )
    nr, nc = matrix.shape
    fig, ax = new_axes(ax, (FIG_WIDTH, 1.5 + (0.32 if transpose else 0.42) * nr))
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#f2f2f2")
    im = ax.imshow(
        np.ma.masked_invalid(matrix),
        cmap=cmap,
        vmin=-1,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
    )
    size = NOTE_SIZE if nc <= 6 else 6.5
    for i in range(nr):
        for j in range(nc):
            d = matrix[i, j]
            if not np.isfinite(d):
                ax.text(j, i, "–", ha="center", va="center", fontsize=size, color=MUTED)
                continue
            rgba = cmap((d + 1) / 2)
            shown = f"{d:+.2f}" if abs(d) >= 0.005 else "0.00"
            ax.text(
                j,
                i,
                f"{shown}{_stars(pvals[i, j])}",
                ha="center",
                va="center",
                fontsize=size,
                color=text_colour_on(mpl.colors.to_hex(rgba)),
            )
    # Column labels: wrap to the column width; rotate only if a single word is too wide.
    col_width = max(ax.get_position().width * fig.get_figwidth() - 0.3, 1.0) / max(nc, 1)
    wrapped = [_wrap(lab, col_width) for lab in col_labels]
    ax.set_xticks(np.arange(nc), wrapped)
    ax.set_yticks(np.arange(nr), row_labels)
    ax.tick_params(length=0, labelsize=TICK_SIZE, colors=TEXT_COLOR)
    if any(text_width(line) > col_width for lab in wrapped for line in lab.split("\n")):
        ax.tick_params(axis="x", labelrotation=35)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
            lab.set_rotation_mode("anchor")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(nc + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(nr + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    set_axis_labels(ax, x=f"{col_axis}\n{t('charts.effect_stars', language)}", y=row_axis)
    set_title(ax, t("charts.effect_title", language))
    cbar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=18)
    cbar.set_label(t("charts.effect_colorbar", language), fontsize=NOTE_SIZE, color=TEXT_COLOR)
    cbar.ax.tick_params(labelsize=NOTE_SIZE, length=2)
    cbar.set_ticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:+.1f}" if v else "0"))
    cbar.outline.set_visible(False)
    return ax


# --------------------------------------------------------------------------- HTML


# The smallest chart text, in CSS pixels, a screen may show: a chart whose smallest text
# would be drawn smaller (a phone) keeps a minimum width and scrolls sideways in its figure.
MIN_SCREEN_TEXT_PX = 9.0
_SVG_HASHSALT = "tiering"  # matplotlib's id seed: the same figure gives the same SVG bytes
_FONT_SIZE = re.compile(r"font-size:\s*([0-9.]+)px")


def figure_html(fig: Figure | Axes, *, alt: str, caption: str | None = None) -> str:
    """The figure as a self-contained ``<figure class="chart">`` HTML snippet; closes it.

    The ``<img>`` shows the figure as SVG (:func:`svg_bytes`: vector, its text stays text
    (``svg.fonttype: none``): sharp at any zoom and in print, selectable and searchable),
    embedded as base64 without date or software metadata, so the same figure gives the
    same bytes on every run. The report's two pages both show it:
    :func:`tiering.build.render.notebook_to_html` embeds the fonts its text uses as
    subsets for the screen page (a browser shows an ``<img>`` SVG with no page fonts);
    WeasyPrint draws it into the PDF as vector graphics with the same installed fonts.

    The ``<img>`` carries a ``width`` in CSS pixels equal to the figure's physical width
    (96 CSS px per inch), so HTML and WeasyPrint show it at its designed size, and a
    ``--chart-min-width`` property (``style``): the width at which its smallest text is
    :data:`MIN_SCREEN_TEXT_PX` CSS pixels tall; the report's screen CSS keeps the chart at
    least that wide (narrower screens scroll the chart, not the page). ``alt`` and
    ``caption`` are HTML-escaped.
    """
    if isinstance(fig, Axes):
        fig = fig.figure
    require(
        isinstance(fig, Figure),
        f"figure_html needs a matplotlib Figure, got {type(fig).__name__}",
        where="fig",
    )
    require(
        isinstance(alt, str) and alt.strip() != "",
        "alt text is empty",
        where="alt",
        hint="describe what the chart shows, for screen readers and broken images",
    )
    try:
        svg = svg_bytes(fig)
    finally:
        plt.close(fig)
    css_width = round(_svg_width_pt(svg) * 96 / 72)
    min_width = min_screen_width(svg, css_width)
    parts = [
        f'<figure class="chart"><img src="data:image/svg+xml;base64,{_b64(svg)}" '
        f'alt="{html.escape(alt, quote=True)}" width="{css_width}" '
        f'style="--chart-min-width: {min_width}px">'
    ]
    if caption:
        parts.append(f"<figcaption>{html.escape(caption, quote=True)}</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _svg_width_pt(svg: bytes) -> float:
    """The width matplotlib gives its SVG (``width="…pt"`` on the root element)."""
    match = re.search(rb'<svg\b[^>]*\bwidth="([0-9.]+)pt"', svg)
    if match is None:  # pragma: no cover - matplotlib always writes it
        raise RuntimeError("matplotlib wrote an SVG without a width in pt")
    return float(match.group(1))


def svg_bytes(fig: Figure) -> bytes:
    """The figure as deterministic SVG: text as ``<text>`` elements (``svg.fonttype:
    none``), fixed element ids (``svg.hashsalt``), no date or creator metadata, white
    background, cropped to what is drawn (``bbox_inches="tight"``, 0.05 in padding).

    Its ``font-family`` lists are matplotlib's (the CJK face first when one is
    installed); :mod:`tiering.build.svgfonts` embeds those fonts for the report page.
    """
    buffer = io.BytesIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": _SVG_HASHSALT}):
        fig.savefig(
            buffer,
            format="svg",
            facecolor="white",
            bbox_inches="tight",
            pad_inches=0.05,
            metadata={"Date": None, "Creator": None},
        )
    return buffer.getvalue()


def min_screen_width(svg: bytes, width: int) -> int:
    """The CSS width (px) at which the smallest text of ``svg``, shown ``width`` CSS
    pixels wide at its designed size, is :data:`MIN_SCREEN_TEXT_PX` tall (rounded up;
    below ``width`` when its smallest text is larger than that); 0 when it has no text.

    The font sizes are read from the SVG's ``font-size`` declarations, in user units of
    its ``viewBox``.
    """
    text = svg.decode("utf-8")
    view_box = re.search(r'viewBox="([^"]+)"', text)
    sizes = [float(s) for s in _FONT_SIZE.findall(text)]
    if view_box is None or not sizes or min(sizes) <= 0:
        return 0
    view_width = float(view_box.group(1).split()[2])
    smallest_px = min(sizes) * width / view_width  # at the designed width
    return math.ceil(round(width * MIN_SCREEN_TEXT_PX / smallest_px, 6))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
