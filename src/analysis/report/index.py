"""``reports/index.html``: every period's pack with links, KPIs and trend charts.

The page is self-contained (inline CSS, charts as embedded PNG) and reads only the
packs' ``results.json``. Trend charts show the monthly KPIs of the newest pack (its
executive summary computes them for every month of history), so the page is useful
from the first pack on.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import pandas as pd

from analysis.analyses.kpis import KPI_LABELS, format_kpi
from analysis.core.results import Verdict
from analysis.data.periods import PERIOD_PATTERN

PACK_FILES = (("leadership.pdf", "PDF"), ("leadership.html", "leadership"),
              ("analyst.html", "analyst"), ("results.json", "results.json"))
INDEX_KPIS = ("customers", "active", "revenue", "profit", "churn_rate", "top20_share",
              "satisfaction")
TREND_KPIS = ("customers", "revenue", "profit", "churn_rate", "top20_share", "new")
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
    current = (pack.get("kpis") or {}).get("current") or {}
    return (current.get(name) or {}).get("value")


def pack_rows(packs: list[dict]) -> str:
    head = ["period"] + [KPI_LABELS.get(k, k) for k in INDEX_KPIS] + ["claims that hold",
                                                                      "pack"]
    rows = []
    for pack in reversed(packs):
        counts = pack.get("claim_counts", {})
        links = " ".join(
            f"<a href='{html.escape(pack['_folder'])}/{name}'>{label}</a>"
            for name, label in PACK_FILES
            if (Path(pack["_dir"]) / name).exists()
        )
        cells = [html.escape(pack["_folder"])]
        cells += [html.escape(format_kpi(k, kpi_value(pack, k))) for k in INDEX_KPIS]
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


def trend_charts(trend: pd.DataFrame) -> list[str]:
    """One embedded PNG per KPI trend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.core import plots

    plots.use_house_style()
    images = []
    months = pd.PeriodIndex(trend["month"], freq="M").to_timestamp()
    for name in TREND_KPIS:
        if name not in trend or trend[name].isna().all():
            continue
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.plot(months, trend[name].astype(float), marker="o", markersize=2.5)
        last = trend[name].iloc[-1]
        plots.finding(ax, f"{KPI_LABELS.get(name, name)}: {format_kpi(name, last)} in "
                          f"{trend['month'].iloc[-1]}")
        if name in ("churn_rate", "top20_share"):
            plots.percent_axis(ax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        data = base64.b64encode(buffer.getvalue()).decode()
        images.append(f"<img alt='{html.escape(name)} trend' src='data:image/png;base64,{data}'>")
    return images


def build_index(reports_dir: str | Path) -> Path:
    """Write ``reports/index.html`` from the packs present (an empty list if none)."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    packs = read_packs(reports_dir)
    for pack in packs:
        pack["_dir"] = str(reports_dir / pack["_folder"])
    if packs:
        body = pack_rows(packs)
        charts = "".join(trend_charts(trend_frame(packs)))
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
    path = reports_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
