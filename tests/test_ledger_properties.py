"""Property tests for the loaders and the ledger: money in = kept + excluded, exactly, against
decimal arithmetic on the text the file holds; numbers written with any declared separators
read back as what was written."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.data.config import load_settings
from analysis.data.contract import Formats
from analysis.data.ledger import MICROS, exact_sum, money_text, to_micros
from analysis.data.sources import load_data

#: money with up to six decimals (fractions of a cent included), within the default limit
money = st.decimals(min_value=Decimal("-999999.999999"), max_value=Decimal("999999999.999999"),
                    places=6, allow_nan=False, allow_infinity=False)
CONVENTIONS = [(".", ""), (".", ","), (",", ""), (",", "."), (",", " "), (".", "'")]


def written(value: Decimal, decimal: str, thousands: str) -> str:
    """``value`` as a company's export writes it."""
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):f}".partition(".")
    if thousands:
        whole = f"{int(whole):,}".replace(",", thousands)
    return sign + whole + (decimal + frac if frac else "")


@settings(max_examples=200, deadline=None)
@given(value=money, convention=st.sampled_from(CONVENTIONS))
def test_numbers_in_any_declared_convention_read_back_exactly(value, convention):
    decimal, thousands = convention
    formats = Formats(decimal=decimal, thousands=thousands)
    text = pd.Series([written(value, decimal, thousands)])
    assert not formats.misshapen(text).iloc[0]
    parsed = formats.parse_numbers(text).iloc[0]
    assert int(to_micros(np.array([parsed]))[0]) == int(value * MICROS)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-(9 * 10**15), 9 * 10**15), max_size=3000))
def test_exact_sum_never_overflows(values):
    assert exact_sum(np.array(values, dtype="int64")) == sum(values)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.tuples(money.filter(lambda v: v != 0), st.booleans(), st.booleans(),
                             st.booleans(), st.booleans()), min_size=1, max_size=60),
    convention=st.sampled_from(CONVENTIONS),
)
def test_ledger_money_in_equals_kept_plus_excluded_exactly(tmp_path_factory, lines,
                                                           convention):
    """Lines with random anonymous / cancelled / future / filtered flags, written with a
    random separator convention: the ledger's totals equal the decimal sums of the text."""
    decimal, thousands = convention
    folder = tmp_path_factory.mktemp("ledger")
    rows = []
    for i, (value, anonymous, cancelled, future, filtered) in enumerate(lines):
        rows.append({"id": f"t{i}", "who": "" if anonymous else f"c{i % 4}",
                     "day": "2099-01-01" if future else "2026-01-05",
                     "amount": written(value, decimal, thousands),
                     "state": "cancelled" if cancelled else "done",
                     "keep": "n" if filtered else "y"})
    rows.append({"id": "anchor", "who": "c0", "day": "2026-01-06", "amount": "1",
                 "state": "done", "keep": "y"})   # at least one line is kept
    pd.DataFrame(rows).to_csv(folder / "lines.csv", index=False, sep=";")
    settings_ = load_settings({
        "name": "prop", "source": {"kind": "csv", "path": str(folder)},
        "tables": {"transactions": {"file": "lines.csv", "sep": ";", "filter": "keep = 'y'"}},
        "mapping": {"transactions": {"transaction_id": "id", "customer_id": "who",
                                     "timestamp": "day", "revenue": "amount",
                                     "status": "state"}},
        "formats": {"decimal": decimal, "thousands": thousands},
        "rules": {"future_dates": "exclude"},
    })
    data = load_data(settings_)
    ledger = pd.DataFrame(data.ledger.rows)

    def micros(step):
        return int(ledger.loc[ledger["step"] == step, "revenue_micros"].sum())

    values = [Decimal(1)] + [v for v, *_ in lines]
    assert micros("input") == int(sum(values) * MICROS)
    assert micros("input") == micros("kept") + micros("excluded")
    kept = [Decimal(1)] + [v for v, anon, canc, fut, filt in lines
                           if not (anon or canc or fut or filt)]
    assert micros("kept") == int(sum(kept) * MICROS)
    assert int(data.transactions["revenue"].map(lambda v: round(v * MICROS)).sum()) == \
        micros("kept")
    rec = data.ledger.reconciliation().iloc[0]
    assert rec["reconciles"]
    assert rec["rows_in"] == len(rows) == rec["rows_kept"] + rec["rows_excluded"]
    if (decimal, thousands) == (".", ""):   # the source can add its own text exactly
        assert rec["source_total"] == money_text(int(sum(values) * MICROS))


def test_money_text_rounds_half_away_from_zero():
    assert money_text(193_500_000) == "193.50"
    assert money_text(5_000) == "0.01" and money_text(-5_000) == "-0.01"
    assert money_text(4_999) == "0.00" and money_text(-4_999) == "0.00"
    assert money_text(1_234_567_890_000) == "1,234,567.89"
