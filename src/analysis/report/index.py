"""``reports/index.html``: every period's pack with links, KPIs and trend charts.

The page is self-contained (inline CSS, charts as embedded PNG) and reads only the
packs' ``results.json``: it computes no figure itself, so a figure has the same label and
number here as in its pack. Trend charts show the monthly KPIs of the newest pack (its
executive summary computes them for every month of history), so the page is useful
from the first pack on; a chart's title gives the newest month's figure as the pack's
KPI table does. Month labels on the charts stay readable from 1 to 60 and more months
(matplotlib's date locator picks months, quarters or years; ConciseDateFormatter writes
the year once). The page is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import pandas as pd

from analysis.analyses.kpis import KPI_LABELS, format_kpi
from analysis.core import text
from analysis.core.results import Verdict
from analysis.data.periods import PERIOD_PATTERN
from analysis.report.install import write_atomic

PACK_FILES = (("leadership.pdf", "PDF"), ("leadership.html", "leadership"),
              ("analyst.html", "analyst"), ("results.json", "results.json"))
#: the KPI columns of the index, in order; a pack shows those its results.json has (no
#: profit column for a company without cost, subscriber figures for a subscription company)
INDEX_KPIS = ("customers", "active", "revenue", "profit", "churn_rate", "top20_share",
              "subscribers", "cancellation_rate", "recurring_revenue", "annual_churn",
              "satisfaction")
TREND_KPIS = ("customers", "revenue", "profit", "churn_rate", "top20_share", "new",
              "subscribers", "subscribers_new", "cancelled", "cancellation_rate",
              "recurring_revenue")
AXES = {"churn_rate": "percent", "top20_share": "percent", "cancellation_rate": "percent",
        "revenue": "money", "profit": "money", "recurring_revenue": "money"}
CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem} p.sub{color:#555;margin-top:0}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f3f5f8}
.links a{margin-right:.6rem} .charts img{width:49%;min-width:320px}
"""


def read_packs(reports_dir: Path) -> list[dict]:
    """The results.json of every ``YYYY-MM`` pack, oldest first."""
    packs = []
    for folder in sorted(Path(reports_dir).iterdir()):
        path = folder / "results.json"
        if folder.is_dir() and PERIOD_PATTERN.match(folder.name) and path.exists():
            payload = json.loads(path.read_text())
            payload["_folder"] = folder.name
            packs.append(payload)
    return packs


def kpi_value(pack: dict, name: str) -> float | None:
    return kpi_estimate(pack, name).get("value")


def kpi_current(pack: dict) -> dict:
    """The pack's KPIs for its own period, as results.json has them (empty if none)."""
    return (pack.get("kpis") or {}).get("current") or {}


def kpi_estimate(pack: dict, name: str) -> dict:
    """The pack's own estimate of a KPI for its period, as results.json has it."""
    return kpi_current(pack).get(name) or {}


def kpi_label(pack: dict, name: str) -> str:
    """The KPI's label as the pack shows it (a label in results.json wins)."""
    return kpi_estimate(pack, name).get("label") or KPI_LABELS.get(name, name)


def shown_kpis(packs: list[dict]) -> list[str]:
    """The index's KPI columns: those the newest pack reports (its labels say what they
    are; a KPI the company cannot have, such as profit without cost, is not a column)."""
    newest = kpi_current(packs[-1]) if packs else {}
    if not newest:
        return [k for k in INDEX_KPIS if k != "profit"]
    return [k for k in INDEX_KPIS if k in newest]


def pack_rows(packs: list[dict]) -> str:
    kpis = shown_kpis(packs)
    head = ["period"] + [kpi_label(packs[-1], k) for k in kpis] + ["claims that hold", "pack"]
    rows = []
    for pack in reversed(packs):
        counts = pack.get("claim_counts", {})
        links = " ".join(
            f"<a href='{html.escape(pack['_folder'])}/{name}'>{label}</a>"
            for name, label in PACK_FILES
            if (Path(pack["_dir"]) / name).exists()
        )
        cells = [html.escape(pack["_folder"])]
        cells += [html.escape(format_kpi(k, kpi_value(pack, k))) for k in kpis]
        tested = sum(v for k, v in counts.items() if k != Verdict.NOT_TESTABLE.value)
        held = counts.get(Verdict.HOLDS.value, 0) + counts.get(Verdict.STRONGER.value, 0)
        cells.append(f"{held} of {tested} testable")
        cells.append(f"<span class='links'>{links}</span>")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def trend_frame(packs: list[dict]) -> pd.DataFrame:
    """Monthly KPI trend from the newest pack; falls back to one point per pack."""
    newest = packs[-1]
    trend = (newest.get("sections", {}).get("executive_summary", {}).get("extra", {})
             .get("kpi_trend"))
    if trend:
        return pd.DataFrame(trend)
    return pd.DataFrame([{"month": p["_folder"], **{k: kpi_value(p, k) for k in TREND_KPIS}}
                         for p in packs])


def trend_charts(trend: pd.DataFrame, newest: dict | None = None) -> list[str]:
    """One embedded PNG per KPI trend; the title gives the newest pack's figure (label and
    number from its results.json)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.core import plots

    plots.use_house_style()
    images = []
    if trend.empty or "month" not in trend:
        return images
    months = pd.PeriodIndex(trend["month"], freq="M").to_timestamp()
    reported = kpi_current(newest or {})
    for name in TREND_KPIS:
        if name not in trend:
            continue
        values = pd.to_numeric(trend[name], errors="coerce").astype(float)
        if values.isna().all():
            continue
        if reported and name in INDEX_KPIS and name not in reported:
            continue   # a KPI the newest pack does not report: no profit chart without cost
        label = kpi_label(newest or {}, name)
        fig = trend_figure(months, values, chart_title(name, trend, newest),
                           AXES.get(name))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        data = base64.b64encode(buffer.getvalue()).decode()
        images.append(f"<img alt='{html.escape(label)}: trend by month' "
                      f"src='data:image/png;base64,{data}'>")
    return images


def chart_title(name: str, trend: pd.DataFrame, newest: dict | None = None) -> str:
    """"<label>: <figure> in <period>": the newest pack's own label and figure from its
    results.json (as its KPI table shows them); the trend's last point only for a pack
    without that KPI."""
    value = text.finite(kpi_value(newest, name)) if newest else None
    period = newest["period"] if newest and value is not None else trend["month"].iloc[-1]
    if value is None:
        value = trend[name].iloc[-1]
    label = kpi_label(newest or {}, name)
    return text.chart_label(f"{short_label(label)}: {format_kpi(name, value)} in {period}")


def short_label(label: str) -> str:
    """A KPI label for a chart title: the part before its explanation ("Share of profit
    from the top 20% of buying customers" becomes "Top 20% share of profit")."""
    top = re.match(r"Share of (\w+) from the top (\d+%)", label)
    if top:
        return f"Top {top.group(2)} share of {top.group(1)}"
    for mark in (" (", ":"):
        if mark in label:
            label = label.split(mark)[0]
    return label


def trend_figure(months: pd.DatetimeIndex, values: pd.Series, title: str,
                 axis: str | None = None):
    """A small line chart of one KPI by month, with month labels that do not overlap;
    ``axis`` is "percent" or "money" for the value axis' labels."""
    import matplotlib.pyplot as plt

    from analysis.core import plots

    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(months, values.to_numpy(float), marker="o", markersize=2.5)
    month_axis(ax, months)
    plots.finding(ax, title)
    if axis == "percent":
        plots.percent_axis(ax)
    elif axis == "money":
        plots.money_axis(ax)
    fig.tight_layout()
    return fig


def month_axis(ax, months: pd.DatetimeIndex) -> None:
    """Ticks at months, quarters, half years or years as the span needs (two years: Jan
    and Jul of each; five years: each January): at most about seven labels,
    every month for a span of less than four months, written concisely (``Jan``, ``Apr``,
    ..., the year once; ``Oct 2026`` for a single month). Twenty days of room at each
    end, so that a single month is a point in the middle, not a squeezed axis."""
    import matplotlib.dates as mdates

    locator = month_locator(months)
    ax.xaxis.set_major_locator(locator)
    one_month = months.nunique() == 1   # one tick: the concise formatter cannot tell its unit
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y") if one_month
                                 else mdates.ConciseDateFormatter(locator))
    pad = pd.Timedelta(days=20)
    ax.set_xlim(months.min() - pad, months.max() + pad)


#: tick spacings in months: every month, two, a quarter, half a year, then years
TICK_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def month_locator(months: pd.DatetimeIndex, most: int = 7):
    """The tightest tick spacing of :data:`TICK_STEPS` that gives at most ``most`` ticks
    over ``months`` (ticks on the calendar: Jan/Apr/Jul/Oct, Jan/Jul, or Januaries)."""
    import matplotlib.dates as mdates

    if len(months) == 0:
        return mdates.MonthLocator()
    first, last = months.min(), months.max()
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    for step in TICK_STEPS:
        if span / step < most:
            break
    if step < 12:
        return mdates.MonthLocator(bymonth=range(1, 13, step))
    return mdates.YearLocator(base=step // 12)


def build_index(reports_dir: str | Path) -> Path:
    """Write ``reports/index.html`` from the packs present (an empty list if none)."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    packs = read_packs(reports_dir)
    for pack in packs:
        pack["_dir"] = str(reports_dir / pack["_folder"])
    if packs:
        body = pack_rows(packs)
        charts = "".join(trend_charts(trend_frame(packs), packs[-1]))
        company = html.escape(str(packs[-1].get("config", "")))
        intro = (f"<p class='sub'>{len(packs)} monthly pack(s) for {company}; newest "
                 f"{html.escape(packs[-1]['_folder'])}. Open the PDF for the leadership "
                 "report, the analyst HTML for the code.</p>")
        content = f"{intro}{body}<h2>Trends</h2><div class='charts'>{charts}</div>"
    else:
        content = "<p class='sub'>No report packs yet: run <code>make report</code>.</p>"
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Customer-value reports</title><style>{CSS}</style></head><body>"
            f"<h1>Customer-value reports</h1>{content}</body></html>")
    return write_atomic(reports_dir / "index.html", page)
