"""The data contract: every validation rule, its message, and the ledger's reconciliation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.data.contract import ContractError, Formats, Rules
from analysis.data.validation import conform


def transactions(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "transaction_id": ["t1", "t2", "t3", "t4"],
        "customer_id": ["a", "a", "b", "c"],
        "timestamp": ["2026-01-05", "2026-02-01", "2026-01-10", "2026-03-01"],
        "revenue": ["10.50", "20", "-5", "7.25"],
    })
    for column, values in overrides.items():
        frame[column] = values
    return frame


def problems(error: ContractError) -> dict[tuple[str, str], object]:
    return {(p.table, p.column): p for p in error.problems}


def test_valid_minimal_transactions_conform():
    data = conform({"transactions": transactions()})
    tx = data.transactions
    assert list(tx["revenue"]) == [10.5, 20.0, -5.0, 7.25]
    assert tx["is_return"].tolist() == [False, False, True, False]
    assert pd.api.types.is_datetime64_any_dtype(tx["timestamp"])
    assert data.ledger.reconciles
    assert set(data.missing()) >= {"customers", "surveys", "interactions", "transactions.cost"}


def test_missing_required_column_names_table_column_and_fix():
    with pytest.raises(ContractError) as info:
        conform({"transactions": transactions().drop(columns="timestamp")},
                sources={"transactions": "sales.csv"})
    p = problems(info.value)[("transactions", "timestamp")]
    assert "missing" in p.issue and "[mapping.transactions]" in p.fix
    assert "sales.csv" in str(info.value)


def test_wrong_type_and_unparseable_dates_list_example_rows():
    frame = transactions(revenue=["10", "abc", "5", "x1"], timestamp=["2026-01-05", "soon",
                                                                       "2026-01-10", "2026-03-01"])
    with pytest.raises(ContractError) as info:
        conform({"transactions": frame})
    found = problems(info.value)
    assert found[("transactions", "revenue")].count == 2
    assert "row 3: 'abc'" in found[("transactions", "revenue")].examples  # header is row 1
    assert found[("transactions", "timestamp")].count == 1
    assert "date_format" in found[("transactions", "timestamp")].fix


def test_anonymous_rows_excluded_and_counted_or_error():
    frame = transactions(customer_id=["a", None, "b", ""])
    data = conform({"transactions": frame})
    assert len(data.transactions) == 2
    excluded = data.ledger.excluded()
    assert excluded.loc[excluded["reason"].str.contains("anonymous"), "rows"].sum() == 2
    assert data.ledger.reconciles
    with pytest.raises(ContractError, match="customer id is empty"):
        conform({"transactions": frame}, rules=Rules(anonymous_transactions="error"))


def test_duplicate_transaction_ids_error_or_exclude():
    frame = transactions(transaction_id=["t1", "t1", "t3", "t4"])
    with pytest.raises(ContractError, match="duplicate"):
        conform({"transactions": frame})
    data = conform({"transactions": frame}, rules=Rules(duplicate_transaction_ids="exclude"))
    assert len(data.transactions) == 3 and data.ledger.reconciles


def test_zero_revenue_rules():
    frame = transactions(revenue=["10", "0", "5", "7"])
    with pytest.raises(ContractError, match="zero revenue"):
        conform({"transactions": frame})
    assert len(conform({"transactions": frame}, rules=Rules(zero_revenue="exclude"))
               .transactions) == 3
    assert len(conform({"transactions": frame}, rules=Rules(zero_revenue="keep"))
               .transactions) == 4


def test_negative_revenue_must_be_flagged_when_a_return_flag_exists():
    frame = transactions(is_return=["no", "no", "no", "no"])
    with pytest.raises(ContractError, match="not flagged as a return"):
        conform({"transactions": frame})


def test_future_dates_error_or_exclude():
    as_of = pd.Timestamp("2026-02-15")
    with pytest.raises(ContractError, match="future"):
        conform({"transactions": transactions()}, as_of=as_of)
    data = conform({"transactions": transactions()}, as_of=as_of,
                   rules=Rules(future_dates="exclude"))
    assert len(data.transactions) == 3 and data.ledger.reconciles
    assert data.ledger.excluded()["reason"].str.contains("after 2026-02-15").all()


def test_cancelled_orders_excluded_with_reason():
    frame = transactions(status=["ok", "Cancelled", "ok", "ok"])
    data = conform({"transactions": frame})
    assert "t2" not in set(data.transactions["transaction_id"])
    assert data.ledger.excluded()["reason"].tolist() == ["cancelled order"]


def test_unknown_or_undeclared_scale_and_scores_off_scale():
    surveys = pd.DataFrame({"customer_id": ["a"], "survey_date": ["2026-01-01"], "score": ["7"]})
    with pytest.raises(ContractError, match="unknown satisfaction scale"):
        conform({"transactions": transactions(), "surveys": surveys}, scale="stars7")
    with pytest.raises(ContractError, match="not declared"):
        conform({"transactions": transactions(), "surveys": surveys})
    with pytest.raises(ContractError, match="outside the declared scale"):
        conform({"transactions": transactions(), "surveys": surveys}, scale="csat5")
    assert conform({"transactions": transactions(), "surveys": surveys},
                   scale="nps10").satisfaction_scale.top_box == 9


def test_unknown_interaction_type_and_negative_cost():
    interactions = pd.DataFrame({"customer_id": ["a", "b"], "opened_at": ["2026-01-01"] * 2,
                                 "type": ["complaint", "phone call"], "service_cost": ["5", "-1"]})
    with pytest.raises(ContractError) as info:
        conform({"transactions": transactions(), "interactions": interactions})
    text = str(info.value)
    assert "unknown category" in text and "negative values" in text


def test_empty_after_rules_is_an_error():
    frame = transactions(customer_id=[None, None, None, None])
    with pytest.raises(ContractError, match="no rows left"):
        conform({"transactions": frame})


def test_formats_decimal_comma_currency_and_date_format():
    frame = transactions(revenue=["1.234,50 €", "€ 20,00", "-5,5", "7"],
                         timestamp=["05.01.2026", "01.02.2026", "10.01.2026", "01.03.2026"])
    data = conform({"transactions": frame},
                   formats=Formats(date_format="%d.%m.%Y", decimal=",", thousands="."))
    assert data.transactions["revenue"].tolist() == [1234.5, 20.0, -5.5, 7.0]
    assert data.transactions["timestamp"].iloc[0] == pd.Timestamp("2026-01-05")


@settings(max_examples=60, deadline=None)
@given(
    cents=st.lists(st.integers(-10**7, 10**7).filter(lambda c: c != 0), min_size=1, max_size=40),
    anonymous=st.lists(st.booleans(), min_size=40, max_size=40),
    cancelled=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_ledger_reconciles_to_the_cent(cents, anonymous, cancelled):
    n = len(cents)
    ids = [None if anonymous[i] else f"c{i % 3}" for i in range(n)]
    if all(i is None or cancelled[k] for k, i in enumerate(ids)):
        ids[0], cancelled[0] = "c0", False  # keep at least one row
    frame = pd.DataFrame({
        "customer_id": ids,
        "timestamp": ["2026-01-01"] * n,
        "revenue": [f"{c / 100:.2f}" for c in cents],
        "status": ["cancelled" if cancelled[i] else "done" for i in range(n)],
    })
    data = conform({"transactions": frame})
    rec = data.ledger.reconciliation().set_index("table").loc["transactions"]
    assert rec["reconciles"]
    assert rec["rows_in"] == n == rec["rows_kept"] + rec["rows_excluded"]
    kept_cents = int(np.round(data.transactions["revenue"] * 100).sum())
    assert round(rec["revenue_kept"] * 100) == kept_cents
    assert round(rec["revenue_in"] * 100) == sum(cents)
