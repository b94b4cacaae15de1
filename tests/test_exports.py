"""Exports: spreadsheet-safe CSV (no formula injection), pseudonyms unless raw ids."""

from __future__ import annotations

import csv

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from analysis.data import privacy
from analysis.report.exports import FORMULA_START, neutralise, spreadsheet_safe, write_export

HOSTILE = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)",
           "\tx", "\rx", "plain", "a=b"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_raw_id_exports_neutralise_formulas_and_keep_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "k" * 32)
    frame = pd.DataFrame({"customer_id": HOSTILE, "segment": ["=1+1"] * len(HOSTILE),
                          "profit": [-5.5] * len(HOSTILE), "orders": range(len(HOSTILE)),
                          "email": ["a@b.c"] * len(HOSTILE)})
    settings = {"name": "acme", "privacy": {"export_raw_ids": True}}
    path = write_export(frame, tmp_path, "core", settings)
    header, *rows = read_csv(path)
    assert header == ["customer_id", "segment", "profit", "orders"]   # no e-mail
    ids = [r[0] for r in rows]
    assert ids == ["'" + v if v[0] in "=+-@\t\r" else v for v in HOSTILE]
    assert {r[1] for r in rows} == {"'=1+1"}
    assert {r[2] for r in rows} == {"-5.5"} and [r[3] for r in rows] == [
        str(i) for i in range(len(HOSTILE))]
    parquet = pd.read_parquet(tmp_path / "exports" / "core.parquet")
    assert parquet["customer_id"].tolist() == HOSTILE, "Parquet keeps the values"


def test_pseudonymised_exports_are_safe_too(tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "k" * 32)
    frame = pd.DataFrame({"customer_id": ["1", "2"], "channel": ["-promo", "@partner"],
                          "tier": pd.Categorical(["=A", "B"])})
    path = write_export(frame, tmp_path, "segments", {"name": "acme"})
    rows = read_csv(path)[1:]
    assert [r[0] for r in rows] == privacy.pseudonymise(["1", "2"], "k" * 32)
    assert [r[1:] for r in rows] == [["'-promo", "'=A"], ["'@partner", "B"]]


@given(st.lists(st.one_of(st.text(max_size=12), st.none(), st.integers()), min_size=1,
                max_size=20))
def test_no_text_cell_starts_like_a_formula(values):
    frame = pd.DataFrame({"v": pd.Series(values, dtype=object)})
    safe = spreadsheet_safe(frame)["v"]
    for before, after in zip(values, safe, strict=True):
        if isinstance(before, str):
            assert not after.startswith(FORMULA_START)
            assert after == before or after == "'" + before
        else:
            assert after is before or (pd.isna(after) and before is None)


def test_neutralise_leaves_numbers_alone():
    assert neutralise(-3) == -3 and neutralise(-3.5) == -3.5 and neutralise("-3") == "'-3"
