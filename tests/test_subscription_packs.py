"""Whole packs for a subscription company and for a snapshot export like a telecom's churn
sample: every notebook runs, churn is shown by contract type, the claims come from the
subscriptions section and the purchase-model sections say they do not apply.

Until the data layer's ``subscriptions`` table lands, the configs point at the table (or the
snapshot) through ``[subscriptions_interim]``; see analysis.analyses.subscriptions.source.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from analysis.data import demo
from analysis.report.pack import NOTEBOOK_DIR, build_pack

SUBSCRIPTION_CONFIG = """name = "subscription-demo"
business = "subscription"

[source]
kind = "parquet"
path = "{path}"

[tables.transactions]
file = "transactions.parquet"
[tables.customers]
file = "customers.parquet"
[tables.subscriptions]
file = "subscriptions.parquet"
"""

# the snapshot mapped by the data layer's expressions, as in
# config/examples/subscription_snapshot.toml (plus the derived billing lines)
SNAPSHOT_CONFIG = """name = "telco-snapshot"
business = "subscription"

[source]
kind = "csv"
path = "{path}"

[periods]
as_of = 2026-10-31
months = 1

[tables.transactions]
file = "transactions.csv"
[tables.subscriptions]
file = "telco_snapshot.csv"

[mapping.subscriptions]
customer_id = "customerID"
start = "as_of() - to_months(CAST(tenure AS INTEGER))"
end = "CASE WHEN Churn = 'Yes' THEN as_of() END"
plan = "Contract"
recurring_charge = "MonthlyCharges"
"""


def _pack(tmp_path: Path, config_text: str, folder: Path, notebooks=None) -> Path:
    config = tmp_path / "company.toml"
    config.write_text(config_text.format(path=folder.as_posix()))
    chosen = NOTEBOOK_DIR
    if notebooks is not None:
        chosen = tmp_path / "notebooks"
        chosen.mkdir()
        for name in notebooks:
            shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", chosen)
    return build_pack(config=config, period="2026-10", reports_dir=tmp_path / "reports",
                      pdf=False, notebooks_dir=chosen, progress=lambda _: None).folder


def _reader_text(pack: Path) -> str:
    html = (pack / "leadership.html").read_text()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<img[^>]*>", "", html)))


def _check(pack: Path) -> dict:
    results = json.loads((pack / "results.json").read_text())
    claims = {c["claim_id"]: c for c in results["claims"]}
    assert claims["C11"]["section"] == "subscriptions"
    assert claims["C11"]["verdict"] != "not testable with this data"
    assert claims["C10"]["section"] == "subscriptions"
    for claim in ("C3", "C4", "C5"):
        assert "subscription" in claims[claim]["summary"]
    text = _reader_text(pack)
    section = text[text.index("Subscriptions: who renews"):]
    for plan in ("Month-to-month", "One year", "Two year"):
        assert plan in section
    assert "Not applicable to a subscription business" in text
    assert not re.search(r"\b(nan|None|inf|NaT)\b", section)
    return results


@pytest.mark.slow
def test_subscription_company_gets_a_complete_pack(tmp_path):
    folder = demo.write_subscription_company(tmp_path / "data", n_customers=1200)
    results = _check(_pack(tmp_path, SUBSCRIPTION_CONFIG, folder))
    assert "subscriptions" in results["sections"]


@pytest.mark.slow
def test_snapshot_export_gets_a_complete_pack(tmp_path):
    folder = demo.write_telecom_snapshot(tmp_path / "data", n_customers=1500)
    # the sections that read churn (the whole pack runs in the test above)
    pack = _pack(tmp_path, SNAPSHOT_CONFIG, folder, ("04_churn_retention",
                                                     "05_customer_lifetime_value",
                                                     "07_subscriptions", "90_executive_summary"))
    _check(pack)
    assert "left truncation" in _reader_text(pack)
