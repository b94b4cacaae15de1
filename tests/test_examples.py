"""The three export shapes of config/examples on their synthetic fixtures: `init` drafts a
config, `validate` accepts the examples, and (line items, marketplace) `report` renders a pack
from the config file alone."""

from __future__ import annotations

import shutil
import tomllib

import pandas as pd
import pytest

from analysis.cli import main
from analysis.core.paths import PROJECT_ROOT
from analysis.data.config import load_settings
from analysis.data.sources import load_data

EXAMPLES = PROJECT_ROOT / "config" / "examples"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"


def cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def test_init_drafts_a_config_for_line_items_that_validates_without_edits(tmp_path, capsys):
    draft = tmp_path / "retail.toml"
    code, out, _ = cli(["init", FIXTURES / "retail" / "online_retail.xlsx", "-o", draft], capsys)
    assert code == 0 and "analysis validate --config" in out
    text = draft.read_text()
    raw = tomllib.loads(text)
    mapping = raw["mapping"]["transactions"]
    assert mapping["revenue"] == "Quantity * UnitPrice"
    assert mapping["customer_id"] == "CustomerID" and mapping["timestamp"] == "InvoiceDate"
    assert "starts_with" in mapping["is_return"] and "'C'" in mapping["is_return"]
    assert "transaction_id" not in mapping          # InvoiceNo is an invoice number
    assert "InvoiceNo looks like an order/invoice number" in text   # listed as undecided
    code, out, err = cli(["validate", "--config", draft], capsys)
    assert code == 0, err
    assert "returns kept" in out and "anonymous (no customer id)" in out
    code, _, _ = cli(["init", FIXTURES / "retail", "-o", draft], capsys)
    assert code == 2   # an existing file is not overwritten without --force


def test_init_reads_separators_date_format_and_cancel_words(tmp_path, capsys):
    lines = ["Beleg;Kundennummer;Datum;Menge;Preis;Status"]
    lines += [f"{1000 + i};K{i % 7};{1 + i % 28:02d}.{1 + i % 12:02d}.2025;{1 + i % 3};"
              f"{['1.200,50', '99,90', '3,25'][i % 3]};{'storniert' if i % 9 == 0 else 'bezahlt'}"
              for i in range(60)]
    (tmp_path / "umsatz.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    draft = tmp_path / "de.toml"
    assert cli(["init", tmp_path / "umsatz.csv", "-o", draft], capsys)[0] == 0
    raw = tomllib.loads(draft.read_text())
    assert raw["tables"]["transactions"]["sep"] == ";"
    assert raw["formats"] == {"date_format": "%d.%m.%Y", "decimal": ",", "thousands": "."}
    assert raw["rules"]["cancelled_values"] == ["storniert"]
    assert raw["mapping"]["transactions"]["transaction_id"] == "Beleg"   # unique per line
    assert raw["mapping"]["transactions"]["revenue"] == "Menge * Preis"
    code, out, _ = cli(["validate", "--config", draft], capsys)
    assert code == 0 and "cancelled order" in out
    data = load_data(load_settings(draft))
    revenue = data.transactions.set_index("transaction_id")["revenue"]
    assert revenue["1001"] == 199.8 and revenue["1003"] == 1200.5 and "1000" not in revenue


def test_init_proposes_lookups_for_a_folder_of_related_files(tmp_path, capsys):
    draft = tmp_path / "market.toml"
    assert cli(["init", FIXTURES / "marketplace", "-o", draft], capsys)[0] == 0
    raw = tomllib.loads(draft.read_text())
    joins = raw["tables"]["transactions"]["join"]
    assert {"file": "customers_file", "on": "customer_id"} in joins
    aggregate = next(j for j in joins if "aggregate" in j)
    assert aggregate["on"] == "order_id" and "freight_value" in str(aggregate["aggregate"])
    assert raw["mapping"]["transactions"]["customer_id"] == "customer_unique_id"
    assert [j["file"] for j in raw["tables"]["surveys"]["join"]] == ["transactions",
                                                                     "customers_file"]
    assert cli(["validate", "--config", draft], capsys)[0] == 0


def test_init_recognises_a_snapshot(tmp_path, capsys):
    draft = tmp_path / "snap.toml"
    assert cli(["init", FIXTURES / "telecom", "-o", draft], capsys)[0] == 0
    raw = tomllib.loads(draft.read_text())
    assert raw["business"] == "subscription"
    assert "to_months" in raw["mapping"]["subscriptions"]["start"]
    assert "as_of" in draft.read_text().split("could not decide")[1]


def test_the_line_item_example_reproduces_the_export(capsys):
    code, out, _ = cli(["validate", "--config", EXAMPLES / "retail_line_items.toml"], capsys)
    assert code == 0
    data = load_data(load_settings(EXAMPLES / "retail_line_items.toml"))
    raw = pd.read_excel(FIXTURES / "retail" / "online_retail.xlsx", engine="calamine")
    tx = data.transactions
    assert not tx["customer_id"].str.contains(r"\.0$").any()      # 13607.0 -> 13607
    assert set(tx["customer_id"]) == {str(int(v)) for v in raw["CustomerID"].dropna()}
    cancelled = raw["InvoiceNo"].astype(str).str.startswith("C") & raw["CustomerID"].notna()
    assert int(tx["is_return"].sum()) == int(cancelled.sum())
    known = raw["CustomerID"].notna() & (raw["UnitPrice"] != 0)
    expected = (raw["Quantity"] * raw["UnitPrice"])[known].sum()
    assert tx["revenue"].sum() == pytest.approx(expected, abs=1e-6)
    assert data.ledger.reconciles


def test_the_marketplace_example_joins_looks_up_and_aggregates(capsys):
    assert cli(["validate", "--config", EXAMPLES / "marketplace.toml"], capsys)[0] == 0
    data = load_data(load_settings(EXAMPLES / "marketplace.toml"))
    orders = pd.read_csv(FIXTURES / "marketplace" / "orders.csv")
    keys = pd.read_csv(FIXTURES / "marketplace" / "customers.csv")
    items = pd.read_csv(FIXTURES / "marketplace" / "order_items.csv")
    payments = pd.read_csv(FIXTURES / "marketplace" / "order_payments.csv")
    tx = data.transactions.set_index("transaction_id")
    kept = orders[orders["order_status"] != "canceled"].set_index("order_id")
    assert set(tx.index) == set(kept.index)
    value = (items["price"] + items["freight_value"]).groupby(items["order_id"]).sum()
    assert (tx["revenue"] - value[tx.index].to_numpy()).abs().max() < 1e-9
    paid = payments.groupby("order_id")["payment_value"].sum()
    assert (tx["revenue"] - paid[tx.index]).abs().max() < 0.015   # payments give the same
    person = keys.set_index("customer_id")["customer_unique_id"]
    assert (tx["customer_id"] == person[kept.loc[tx.index, "customer_id"]].to_numpy()).all()
    assert data.customers["customer_id"].is_unique
    assert set(data.surveys["customer_id"]) <= set(data.customers["customer_id"])
    assert data.transactions["customer_id"].nunique() < len(tx)      # people come back


def test_the_snapshot_example_maps_tenure_and_churn_onto_subscriptions(capsys):
    assert cli(["validate", "--config", EXAMPLES / "subscription_snapshot.toml"], capsys)[0] == 0
    data = load_data(load_settings(EXAMPLES / "subscription_snapshot.toml"))
    raw = pd.read_csv(FIXTURES / "telecom" / "telco_churn.csv")
    subs = data.subscriptions.set_index("customer_id")
    as_of = pd.Timestamp("2024-01-31")
    row = raw.iloc[0]
    assert subs.loc[row["customerID"], "start"] == as_of - pd.DateOffset(months=int(row["tenure"]))
    churned = raw.set_index("customerID")["Churn"] == "Yes"
    assert subs["end"].notna().equals(churned[subs.index])
    assert (subs.loc[subs["end"].notna(), "end"] == as_of).all()
    assert data.transactions.empty and "transactions" in data.missing()
    assert data.time_span() == (subs["start"].min(), as_of)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["retail_line_items", "marketplace"])
def test_report_renders_a_pack_from_the_example_config_alone(example, tmp_path):
    from analysis.report.pack import NOTEBOOK_DIR, build_pack

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_data_quality", "90_executive_summary"):
        shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", notebooks)
    pack = build_pack(config=EXAMPLES / f"{example}.toml", reports_dir=tmp_path / "reports",
                      notebooks_dir=notebooks, pdf=False, progress=lambda _: None)
    leadership = (pack.folder / "leadership.html").read_text()
    assert "Data quality" in leadership and "Traceback" not in leadership
    ledger = pd.read_csv(pack.folder / "ledger.csv")
    assert (ledger["step"] == "source").any()
