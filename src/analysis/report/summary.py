"""The executive summary: the period in a few sentences, built from the sections' results.

It reads what the other notebooks wrote (``results.read_sections``), never their code:
the KPIs (:mod:`analysis.analyses.kpis`), the claims scorecard
(:mod:`analysis.analyses.claims`), the segment strategies and each section's headline figures,
and the sections of this pack that failed or were not run (:mod:`analysis.report.failures`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from analysis.analyses.claims import Scorecard
from analysis.analyses.kpis import KPIReport, format_kpi
from analysis.core import plots, text
from analysis.core.results import Verdict
from analysis.report.failures import (  # noqa: F401  (with_failed_sections: for the notebook)
    CLAIM_NOTEBOOKS,
    SKIPPED,
    clean_message,
    failure_reason,
    notebook_stem,
    read_failures,
    with_failed_sections,
)

#: the notebooks whose results give the model-based annual churn of the KPI table
ANNUAL_CHURN_NOTEBOOKS = CLAIM_NOTEBOOKS["C11"]
#: the trend panels: (KPI, its fallback when the company lacks it)
SHOP_PANELS = ("customers", "profit", "churn_rate", "top20_share")
SUBSCRIPTION_PANELS = ("subscribers", "recurring_revenue", "cancellation_rate",
                       "subscribers_new")
PANEL_FALLBACK = {"profit": "revenue", "recurring_revenue": "cancelled"}


def _change_text(report: KPIReport, name: str) -> str:
    for change in report.changes:
        if change.name == name and text.finite(change.relative) is not None:
            direction = "up" if change.relative >= 0 else "down"
            return f" ({direction} {abs(change.relative):.0%} on {report.previous_period})"
    return ""


def kpi_sentences(report: KPIReport) -> str:
    """The period's figures in plain sentences, with the labels of the KPI table: profit
    only where cost was supplied, the lapse count called what it is, the annual churn
    with its interval."""
    have = report.current.values

    def value(name: str) -> str:
        return format_kpi(name, report.value(name))

    parts = []
    if "customers" in have:
        money = [f"net revenue of {value('revenue')}{_change_text(report, 'revenue')}"]
        if "profit" in have:
            label = report.label("profit")
            money.append(f"{label[0].lower()}{label[1:]} of {value('profit')}"
                         f"{_change_text(report, 'profit')}")
        parts.append(f"**{value('customers')} customers bought in {report.period}**"
                     f"{_change_text(report, 'customers')}, bringing {' and '.join(money)}.")
    if "subscribers" in have:
        rate = ("" if report.value("cancellation_rate") is None else
                f" (a cancellation rate of {value('cancellation_rate')} of those active at "
                "its start)")
        moves = f"{value('subscribers_new')} subscribed"
        if report.value("cancelled") is not None:
            moves += f" and {value('cancelled')} cancelled"
        parts.append(f"**{value('subscribers')} subscribers were active at the end of "
                     f"{report.period}**{_change_text(report, 'subscribers')}; "
                     f"{moves} in the period{rate}.")
    if "churned" in have:
        days = _days_phrase(report.label("churned"))
        rate = (f"{value('churn_rate')} of the customers active at the start of the month"
                if report.value("churn_rate") is not None else
                "no customer was active at the start of the month")
        parts.append(f"{value('churned')} customers newly reached {days} without a purchase "
                     f"this month (a lagging count; {rate}).")
    annual = have.get("annual_churn")
    if annual is not None:
        if text.finite(annual.value) is not None:
            span = text.interval(annual.low, annual.high, lambda v: text.pct(v, 0))
            who = ("subscribers" if "subscribers" in have else "today's active customers")
            parts.append(f"Within a year, {text.pct(annual.value, 0)} of {who} are lost"
                         f"{f' ({span})' if span else ''}: the figure claim C11 is judged on.")
        else:
            reason = (annual.method or text.NOT_AVAILABLE).removeprefix(
                f"{text.NOT_AVAILABLE}: ")
            parts.append(f"The share of customers lost within a year cannot be given this "
                         f"month: {reason}.")
    return " ".join(parts)


def _days_phrase(label: str) -> str:
    """"180 days" from the lapse label (``... for 180 days ...``)."""
    words = label.split()
    for i, word in enumerate(words[:-1]):
        if word.isdigit() and words[i + 1].startswith("day"):
            return f"{word} days"
    return "the inactivity window"


def headline_text(report: KPIReport, scorecard: Scorecard) -> str:
    """Plain sentences for the top of the report (Markdown)."""
    counts = scorecard.counts()
    held = counts[Verdict.HOLDS.value] + counts[Verdict.STRONGER.value]
    stronger = (f" ({counts[Verdict.STRONGER.value]} even more strongly than claimed)"
                if counts[Verdict.STRONGER.value] else "")
    return (
        f"{kpi_sentences(report)}\n\n"
        f"Of the {len(scorecard.rows)} folk laws of customer management, "
        f"{scorecard.tested()} could be tested on our data: **{held} hold**{stronger}, "
        f"{counts[Verdict.WEAKER.value]} are weaker than claimed or contradicted and "
        f"{counts[Verdict.INCONCLUSIVE.value]} are inconclusive; "
        f"{counts[Verdict.NOT_TESTABLE.value]} cannot be tested with the data we have."
    )


def failed_titles(failures: Iterable[Mapping[str, Any]],
                  notebooks: Iterable[str] = ANNUAL_CHURN_NOTEBOOKS) -> list[str]:
    """The titles of the failed (or not run) sections among ``notebooks``."""
    wanted = set(notebooks)
    return [f.get("title") or notebook_stem(f.get("notebook", "")) for f in failures
            if notebook_stem(f.get("notebook", "")) in wanted]


def strategies_table(sections: Mapping[str, Mapping[str, Any]],
                     profit: bool = True) -> pd.DataFrame | None:
    """The segment strategies written by the segments section, or None if it did not run.
    A money column is shown only when it has figures; no profit column when ``profit`` is
    False (no cost was supplied: a profit of 0 there is unknown, not zero)."""
    records = sections.get("segments", {}).get("extra", {}).get("strategies")
    if not records:
        return None
    frame = pd.DataFrame(records)
    table = pd.DataFrame({"segment": frame["segment"].map(text.html_text),
                          "customers": frame["customers"].map(plots.fmt_int)})
    for column in ("revenue", "profit") if profit else ("revenue",):
        if column in frame and frame[column].map(text.finite).notna().any():
            table[column] = frame[column].map(text.money)
    table["suggested action"] = frame["action"].map(text.html_text)
    return table


def headlines_table(sections: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every section's headline figures with interval and n, one row each (a figure
    without a value is left out; its section says why)."""
    rows = []
    for name, section in sorted(sections.items()):
        if name in ("executive_summary",):
            continue
        for key, e in (section.get("headlines") or {}).items():
            if text.finite(e.get("value")) is None:
                continue
            fmt = UNIT_FORMATS.get(e.get("unit") or "", number)
            rows.append({
                "section": name.replace("_", " "),
                "figure": key.replace("_", " "),
                "value": fmt(e["value"]),
                "95% interval": text.span(e.get("low"), e.get("high"), fmt, missing=""),
                "n": text.count(e.get("n"), missing=""),
                "method": e.get("method") or "",
            })
    return pd.DataFrame(rows, columns=["section", "figure", "value", "95% interval", "n",
                                       "method"])


def number(x: float) -> str:
    """Readable figure: thousands separators for large numbers, 3 significant digits else."""
    value = text.finite(x)
    if value is None:
        return text.NOT_AVAILABLE
    return f"{value:,.0f}" if abs(value) >= 1000 else text.number(value)


#: how the headline figures of a unit are written
UNIT_FORMATS = {"share": text.pct, "currency": text.money}


def trend_panels(trend: pd.DataFrame) -> list[str]:
    """The KPIs the trend shows for this company (four at most): purchase figures for a
    shop, subscriber figures for a subscription company; revenue in place of profit
    where cost was not supplied."""
    chosen = []
    for name in (*SHOP_PANELS, *SUBSCRIPTION_PANELS):
        for candidate in (name, PANEL_FALLBACK.get(name)):
            if (candidate and candidate in trend and candidate not in chosen
                    and trend[candidate].map(text.finite).notna().any()):
                chosen.append(candidate)
                break
    return chosen[:4]


def plot_trend(trend: pd.DataFrame, report: KPIReport | None = None, months: int = 24):
    """Small charts of the monthly KPIs over the last ``months`` months, titled with the
    KPI table's label and, for the report month, its figure (one definition: the trend
    and the table agree). None when there is nothing to plot."""
    from analysis.report.index import month_axis, short_label

    recent = trend.tail(months)
    panels = trend_panels(recent)
    if recent.empty or not panels:
        return None
    when = pd.PeriodIndex(recent["month"], freq="M").to_timestamp()
    fig, axes = plots.new_figure(ncols=2, nrows=(len(panels) + 1) // 2, sharex=True,
                                 squeeze=False)
    cells = list(axes.ravel())
    for ax, name in zip(cells, panels, strict=False):
        series = recent[name].astype(float)
        ax.plot(when, series, marker="o", markersize=2.5)
        label = report.label(name) if report is not None else name.replace("_", " ")
        last = series.iloc[-1]
        if report is not None and recent["month"].iloc[-1] == report.period:
            last = report.value(name) if name in report.current.values else last
        ax.set_title(text.chart_label(f"{short_label(label)}: {format_kpi(name, last)}"),
                     fontsize=10)
        if name in ("churn_rate", "top20_share", "cancellation_rate"):
            plots.percent_axis(ax)
        elif name in ("profit", "revenue", "recurring_revenue"):
            plots.money_axis(ax)
        month_axis(ax, pd.DatetimeIndex(when))
        ax.tick_params(axis="x", labelsize=8)
    for ax in cells[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"The last {len(recent)} months at a glance", x=0.01, ha="left",
                 fontweight="bold")
    fig.tight_layout()
    return fig


def failed_sections(output_dir) -> list[dict[str, Any]]:
    """The sections of this pack that failed or were not run, as the report runner recorded
    them while the notebooks ran (none when the notebook runs on its own)."""
    return read_failures(output_dir)


def failed_sections_text(failures: list[Mapping[str, Any]]) -> str:
    """A plain paragraph for the top of the summary (Markdown); empty when none failed."""
    if not failures:
        return ""
    names = [f"{text.html_text(f.get('title') or f.get('notebook') or 'a section')} "
             f"({'not run' if f.get('status') == SKIPPED else 'failed'})" for f in failures]
    count = (f"{len(failures)} sections of this report could not be completed"
             if len(failures) > 1 else "One section of this report could not be completed")
    return (f"**{count}:** {'; '.join(names)}. Their pages say what failed and what to try. "
            "The figures and claims that come from them are missing from this summary; "
            "every other section is complete.")


def failed_sections_table(failures: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per failed or skipped section: what happened, where, the message and what
    to try (no empty field shows as "None")."""
    rows = []
    for f in failures:
        notebook = f.get("notebook") or "a notebook"
        if f.get("status") == SKIPPED:
            happened = "not run"
        elif text.finite(f.get("cell")) is not None:
            happened = f"failed at cell {int(f['cell'])} of {notebook}"
        else:
            happened = f"failed ({notebook})"
        message = clean_message(f.get("message"))
        if f.get("status") != SKIPPED and f.get("error"):
            message = f"{f['error']}: {message}"
        rows.append({"section": f.get("title") or notebook, "what happened": happened,
                     "message": message, "what to try": f.get("hint") or ""})
    return pd.DataFrame(rows, columns=["section", "what happened", "message", "what to try"])
