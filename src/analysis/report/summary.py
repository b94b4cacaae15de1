"""The executive summary: the period in a few sentences, built from the sections' results.

It reads what the other notebooks wrote (``results.read_sections``), never their code:
the KPIs (:mod:`analysis.analyses.kpis`), the claims scorecard
(:mod:`analysis.analyses.claims`), the segment strategies and each section's headline figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.analyses.claims import Scorecard
from analysis.analyses.kpis import KPIReport, format_kpi
from analysis.core import plots
from analysis.core.results import Verdict

TREND_PANELS = (("customers", "Customers who bought"), ("profit", "Profit after service cost"),
                ("churn_rate", "Churn rate"), ("top20_share", "Profit share of top 20%"))


def _change_text(report: KPIReport, name: str) -> str:
    for change in report.changes:
        if change.name == name and change.relative is not None:
            direction = "up" if change.relative >= 0 else "down"
            return f" ({direction} {abs(change.relative):.0%} on {report.previous_period})"
    return ""


def headline_text(report: KPIReport, scorecard: Scorecard) -> str:
    """Three plain sentences for the top of the report (Markdown)."""
    values = report.current.values

    def value(name: str) -> str:
        estimate = values.get(name)
        return format_kpi(name, None if estimate is None else estimate.value)

    counts = scorecard.counts()
    held = counts[Verdict.HOLDS.value] + counts[Verdict.STRONGER.value]
    stronger = (f" ({counts[Verdict.STRONGER.value]} even more strongly than claimed)"
                if counts[Verdict.STRONGER.value] else "")
    return (
        f"**{value('customers')} customers bought in {report.period}**"
        f"{_change_text(report, 'customers')}, bringing revenue of {value('revenue')}"
        f"{_change_text(report, 'revenue')} and profit after service cost of {value('profit')}"
        f"{_change_text(report, 'profit')}. "
        f"{value('churned')} customers were lost this month; the churn rate among customers "
        f"active at the start of the month was {value('churn_rate')}.\n\n"
        f"Of the {len(scorecard.rows)} folk laws of customer management, "
        f"{scorecard.tested()} could be tested on our data: **{held} hold**{stronger}, "
        f"{counts[Verdict.WEAKER.value]} are weaker than claimed or contradicted and "
        f"{counts[Verdict.INCONCLUSIVE.value]} are inconclusive; "
        f"{counts[Verdict.NOT_TESTABLE.value]} cannot be tested with the data we have."
    )


def strategies_table(sections: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame | None:
    """The segment strategies written by the segments section, or None if it did not run."""
    records = sections.get("segments", {}).get("extra", {}).get("strategies")
    if not records:
        return None
    frame = pd.DataFrame(records)
    table = pd.DataFrame({"segment": frame["segment"],
                          "customers": frame["customers"].map(plots.fmt_int)})
    for column in ("revenue", "profit"):
        if column in frame:
            table[column] = frame[column].map(plots.fmt_money)
    table["suggested action"] = frame["action"]
    return table


def headlines_table(sections: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every section's headline figures with interval and n, one row each."""
    rows = []
    for name, section in sorted(sections.items()):
        if name in ("executive_summary",):
            continue
        for key, e in (section.get("headlines") or {}).items():
            if e.get("value") is None:
                continue
            interval = ("" if e.get("low") is None or e.get("high") is None
                        else f"{number(e['low'])} to {number(e['high'])}")
            rows.append({
                "section": name.replace("_", " "),
                "figure": key.replace("_", " "),
                "value": number(e["value"]),
                "95% interval": interval,
                "n": "" if e.get("n") is None else f"{e['n']:,}",
                "method": e.get("method", ""),
            })
    return pd.DataFrame(rows, columns=["section", "figure", "value", "95% interval", "n",
                                       "method"])


def number(x: float) -> str:
    """Readable figure: thousands separators for large numbers, 3 significant digits else."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def plot_trend(trend: pd.DataFrame, months: int = 24):
    """Four small charts of the monthly KPIs over the last ``months`` months."""
    recent = trend.tail(months)
    when = pd.PeriodIndex(recent["month"], freq="M").to_timestamp()
    fig, axes = plots.new_figure(ncols=2, nrows=2, sharex=True)
    for ax, (name, label) in zip(axes.ravel(), TREND_PANELS, strict=True):
        series = recent[name].astype(float)
        ax.plot(when, series, marker="o", markersize=2.5)
        ax.set_title(f"{label}: {format_kpi(name, series.iloc[-1])}", fontsize=10)
        if name in ("churn_rate", "top20_share"):
            plots.percent_axis(ax)
        elif name == "profit":
            plots.money_axis(ax)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.suptitle(f"The last {len(recent)} months at a glance", x=0.01, ha="left",
                 fontweight="bold")
    fig.tight_layout()
    return fig

