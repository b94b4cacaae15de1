"""Whole packs for small awkward companies (issue 17, item 5b): each builds completely
(exit status 0) and its leadership HTML reads cleanly: no ``nan``, ``None``, ``inf``,
``NaT`` or numpy reprs in the visible text, and no profit label where no cost was supplied.

The companies are in ``tests/awkward_companies.py``. One pack is rendered with its PDF.
The executive summary and the data-quality section (this layer's own pages) and the index
are always checked strictly. Where a section owned by another part of the code still
fails on a company, the case is marked xfail with that section and its message, and
passes by itself once the section is fixed.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.core.text import reader_text_problems
from awkward_companies import KINDS, PERIOD, write_company

#: the case rendered with its PDF too
WITH_PDF = "odd_text"
#: labels that name profit (the KPI table's, the summary's, the index's, table headers)
PROFIT_LABELS = re.compile(r"profit after|share of profit|profit share|\bprofit\s*:\s*\d",
                           re.IGNORECASE)
PROFIT_HEADER = re.compile(r"<th[^>]*>\s*profit\s*</th>", re.IGNORECASE)
#: what other sections still get wrong on a company (not this layer's code): the reason
#: of the xfail, if the whole pack's check still fails there (none left: every awkward
#: company gets a complete, clean pack)
KNOWN: dict[str, str] = {}


def visible_text(markup: str) -> str:
    """The text a reader sees: no tags, scripts, styles or embedded images."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S | re.I)
    markup = re.sub(r"<img\b[^>]*>", " ", markup, flags=re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def sections_of(markup: str) -> list[str]:
    """The leadership HTML cut at its section breaks (executive summary first)."""
    return markup.split('class="cvl-section-break"')


def profit_labels(markup: str) -> list[str]:
    text = visible_text(markup)
    found = [text[max(m.start() - 40, 0):m.end() + 40] for m in PROFIT_LABELS.finditer(text)]
    return found + PROFIT_HEADER.findall(markup)


@pytest.fixture(scope="module")
def companies(tmp_path_factory):
    return tmp_path_factory.mktemp("awkward")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_awkward_company_gets_a_complete_clean_pack(kind, companies, capsys):
    root = companies / kind
    config = write_company(root, kind)
    reports = root / "reports"
    args = ["report", "--config", str(config), "--period", PERIOD, "--reports-dir",
            str(reports)] + ([] if kind == WITH_PDF else ["--no-pdf"])
    status = main(args)
    err = capsys.readouterr().err
    pack = reports / PERIOD
    markup = (pack / "leadership.html").read_text(encoding="utf-8")
    results = json.loads((pack / "results.json").read_text())
    index = (reports / "index.html").read_text(encoding="utf-8")
    no_cost = "transactions.cost" in (results["sections"]["data_quality"]["extra"]
                                      .get("missing", []))
    assert no_cost == (kind == "no_cost")

    # this layer's own pages and the index: always clean
    summary, quality = sections_of(markup)[:2]
    assert "Executive summary" in visible_text(summary)
    assert "Data quality" in visible_text(quality)
    for part in (summary, quality, index):
        assert not reader_text_problems(visible_text(part)), reader_text_problems(
            visible_text(part))[:5]
    if no_cost:
        assert not profit_labels(summary), profit_labels(summary)[:5]
        assert not profit_labels(index), profit_labels(index)[:5]
        assert "profit" not in results["kpis"]["current"]
        assert results["kpis"]["current"]["top20_share"]["label"].startswith("Share of revenue")
    if kind == WITH_PDF:
        assert (pack / "leadership.pdf").stat().st_size > 10_000

    # the whole pack: complete and clean
    problems = []
    if status != 0:
        problems.append(f"exit status {status}: {err.strip()[-600:]}")
    problems += [f"reader text: {p}" for p in reader_text_problems(visible_text(markup))[:5]]
    if no_cost:
        problems += [f"profit label: {p}" for p in profit_labels(markup)[:5]]
    if problems and kind in KNOWN:
        pytest.xfail(f"{KNOWN[kind]}; seen: {problems[0]}")
    assert not problems, problems
    assert results["failed_sections"] == []


def test_the_awkward_companies_are_what_they_say(tmp_path):
    """Fast checks of the generator: the odd text is in the files, one channel lapses,
    one month of data, no cost column, no surveys or interactions."""
    import pandas as pd

    from awkward_companies import LAPSED_CHANNEL, ODD_CHANNELS, ODD_TEXT, tables

    odd = tables("odd_text", 120)
    assert set(odd["transactions"]["category"]) <= set(ODD_TEXT)
    assert set(odd["customers"]["channel"].dropna()) <= set(ODD_CHANNELS.values())
    lapsed = tables("lapsed_channel", 120)
    gone = lapsed["customers"].loc[lapsed["customers"]["channel"] == LAPSED_CHANNEL,
                                   "customer_id"]
    tx = lapsed["transactions"]
    assert len(gone) and tx.loc[tx["customer_id"].isin(gone), "timestamp"].max() < \
        pd.Timestamp("2025-10-01")
    month = tables("one_month", 120)["transactions"]["timestamp"]
    assert month.dt.strftime("%Y-%m").unique().tolist() == [PERIOD]
    assert "cost" not in tables("no_cost", 120)["transactions"]
    assert set(tables("no_service_data", 120)) == {"customers", "transactions"}
    config = write_company(tmp_path / "odd", "odd_text", 120)
    assert '"Resellers $$" = "partner"' in config.read_text(encoding="utf-8")
    assert Path(config.parent / "data" / "transactions.csv").exists()
