"""reports/index.html: readable month labels for any span, and the packs' own figures."""

from __future__ import annotations

import itertools
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis.analyses.kpis import KPI_LABELS
from analysis.report.index import TREND_KPIS, build_index, chart_title, trend_figure

matplotlib.use("Agg")


@pytest.mark.parametrize("months", [1, 2, 3, 4, 7, 12, 13, 24, 36, 59, 60, 61, 90, 130])
def test_month_labels_never_overlap(months):
    import matplotlib.pyplot as plt

    when = pd.period_range(end="2026-10", periods=months, freq="M").to_timestamp()
    values = pd.Series(np.random.default_rng(months).uniform(0, 2e6, months))
    fig = trend_figure(when, values, "Revenue: 1 in 2026-10", "money")
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
    left, right = ax.get_xlim()
    ticks = [t for t in ticks if left <= t.get_position()[0] <= right]
    assert 1 <= len(ticks) <= 8, [t.get_text() for t in ticks]
    boxes = [t.get_window_extent() for t in ticks]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), [t.get_text() for t in ticks]
    texts = [t.get_text() for t in ticks]
    assert all(len(text) <= 8 for text in texts), texts   # "Oct 2026" at most, no dates
    if months == 1:
        assert texts == ["Oct 2026"]
    plt.close(fig)


def fake_pack(reports, period, revenue, trend_revenue):
    folder = reports / period
    folder.mkdir(parents=True)
    months = [str(p) for p in pd.period_range(end=period, periods=3, freq="M")]
    trend = [{"month": m, "customers": 10, "revenue": trend_revenue, "profit": None,
              "churn_rate": 0.1, "top20_share": None, "new": 2} for m in months]
    estimate = {"value": revenue, "low": None, "high": None, "n": 10, "method": "sum"}
    payload = {"period": period, "config": "acme", "claim_counts": {"supported": 1},
               "kpis": {"current": {"revenue": estimate,
                                    "customers": {**estimate, "value": 10}}},
               "sections": {"executive_summary": {"extra": {"kpi_trend": trend}}}}
    (folder / "results.json").write_text(json.dumps(payload))
    return payload


def test_the_index_shows_the_packs_own_label_and_figure(tmp_path):
    """The chart title and the table give the figure of results.json's KPI table, even
    where the trend's last point says otherwise; nothing is recomputed."""
    reports = tmp_path / "reports"
    fake_pack(reports, "2026-09", 1000.0, 5.0)
    newest = fake_pack(reports, "2026-10", 51234.0, 99999.0)
    trend = pd.DataFrame(newest["sections"]["executive_summary"]["extra"]["kpi_trend"])
    assert chart_title("revenue", trend, newest) == "Net revenue: 51,234 in 2026-10"
    assert chart_title("profit", trend, newest).endswith("not available in 2026-10")
    page = build_index(reports).read_text()
    assert "51,234" in page and "99,999" not in page and KPI_LABELS["revenue"] in page
    assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == []
    assert set(TREND_KPIS) <= set(KPI_LABELS)


def test_no_profit_column_or_chart_for_a_company_without_cost(tmp_path):
    """A pack without a profit KPI (no cost supplied) gets no profit column, no profit
    chart, and its top-20% share keeps the pack's own label (a share of revenue)."""
    reports = tmp_path / "reports"
    payload = fake_pack(reports, "2026-10", 500.0, 500.0)
    label = "Share of revenue from the top 20% of buying customers"
    payload["kpis"]["current"]["top20_share"] = {"value": 0.4, "low": 0.3, "high": 0.5,
                                                 "n": 10, "method": "m", "label": label}
    for row in payload["sections"]["executive_summary"]["extra"]["kpi_trend"]:
        row.pop("profit")
        row["top20_share"] = 0.4
    (reports / "2026-10" / "results.json").write_text(json.dumps(payload))
    page = build_index(reports).read_text()
    assert "profit" not in page.lower()
    assert label in page and "40.0%" in page
    assert page.count("<img") == 4   # customers, revenue, top-20% share, churn rate ... new


@pytest.mark.parametrize("months", [3, 13, 24, 36])
def test_summary_trend_month_labels_never_overlap(months):
    """The executive summary's small charts use the same month axis as the index."""
    import matplotlib.pyplot as plt

    from analysis.report.summary import plot_trend

    labels = [str(p) for p in pd.period_range(end="2026-10", periods=months, freq="M")]
    rng = np.random.default_rng(months)
    trend = pd.DataFrame({"month": labels, "customers": rng.integers(100, 200, months),
                          "revenue": rng.uniform(1e5, 2e5, months),
                          "profit": rng.uniform(1e4, 2e4, months),
                          "churn_rate": rng.uniform(0.05, 0.07, months),
                          "top20_share": rng.uniform(0.6, 0.7, months)})
    fig = plot_trend(trend)
    fig.canvas.draw()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        left, right = ax.get_xlim()
        ticks = [t for t in ax.get_xticklabels()
                 if t.get_text() and left <= t.get_position()[0] <= right]
        boxes = [t.get_window_extent() for t in ticks]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), [t.get_text() for t in ticks]
    plt.close(fig)
