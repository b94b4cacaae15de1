"""One house style for every figure: seaborn theme, palette, number formats.

Titles state the finding ("Top 20% of customers earn 61% of profit"), not the
chart type. Use :func:`new_figure` and :func:`finding` so every notebook looks
the same in the leadership report.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import seaborn as sns

from analysis.core import text

PALETTE = ["#1f4e79", "#e07b39", "#5b9bd5", "#70ad47", "#c00000", "#7f7f7f", "#ffc000"]
HIGHLIGHT = "#c00000"
NEUTRAL = "#7f7f7f"
FIGSIZE = (8.0, 4.5)


def use_house_style() -> None:
    """Apply the project's theme; call once at the top of every notebook."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=1.0)
    plt.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            # labels come from the data ("Promo $5 off"): never parse them as math text
            "text.parse_math": False,
        }
    )


def new_figure(ncols: int = 1, nrows: int = 1, **kwargs):
    """A figure in house size; returns (fig, ax or axes)."""
    width, height = FIGSIZE
    kwargs.setdefault(
        "figsize", (width * min(ncols, 2) * (1 if ncols == 1 else 0.62), height * nrows)
    )
    return plt.subplots(nrows, ncols, **kwargs)


def finding(ax, title: str, subtitle: str | None = None) -> None:
    """Title that states the finding, with an optional grey subtitle (n, method, period)."""
    ax.set_title(title, pad=18 if subtitle else 6)
    if subtitle:
        ax.annotate(subtitle, xy=(0, 1), xycoords="axes fraction", xytext=(0, 4),
                    textcoords="offset points", fontsize=9, color=NEUTRAL, va="bottom")


def spikes(ax, heights, **line_kwargs):
    """A stem plot of ``heights`` against their position, drawn as one line broken by
    gaps: ``ax.stem`` builds a segment per value, which took seconds for the 330,000
    surveyed customers of a large company."""
    heights = np.asarray(heights, dtype=float)
    x = np.repeat(np.arange(len(heights), dtype=float), 3)
    y = np.column_stack([np.zeros(len(heights)), heights, np.full(len(heights), np.nan)])
    x[2::3] = np.nan
    return ax.plot(x, y.ravel(), **line_kwargs)


def percent_axis(ax, axis: str = "y", decimals: int | None = None) -> None:
    """Shares as percentages; by default with as many decimals as the axis range needs for
    distinct tick labels (a 5.0-6.5% axis gets one decimal, not 5%, 6%, 6%)."""
    if decimals is None:
        low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
        span = abs(high - low)
        decimals = 0 if span >= 0.05 else 1 if span >= 0.005 else 2
    formatter = mticker.PercentFormatter(xmax=1.0, decimals=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def money_axis(ax, axis: str = "y") -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        mticker.FuncFormatter(lambda v, _: fmt_money(v))
    )


def fmt_pct(x: float | None, decimals: int = 1) -> str:
    return text.pct(x, decimals, missing="n/a")


def fmt_money(x: float | None) -> str:
    return text.money(x, missing="n/a")


def fmt_int(x: int | None) -> str:
    return text.count(x, missing="n/a")
