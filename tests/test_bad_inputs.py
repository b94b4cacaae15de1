"""The bad-input corpus: every case a new user (or a hostile test) can hit gives a named
error (file, table, column, rows, fix) or a counted ledger line: never a traceback, never a
silent change."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data.config import ConfigError, load_settings
from analysis.data.contract import ContractError
from analysis.data.sources import SourceError, load_data, redact

GOOD = pd.DataFrame({
    "order": ["o1", "o2", "o3", "o4"],
    "client": ["a", "b", "a", "c"],
    "day": ["2026-01-05", "2026-01-06", "2026-02-01", "2026-03-01"],
    "amount": ["10.50", "20.00", "-5.00", "7.25"],
})
MAPPING = {"transaction_id": "order", "customer_id": "client", "timestamp": "day",
           "revenue": "amount"}


def write_config(folder: Path, frame: pd.DataFrame | None = None, *, file="sales.csv",
                 mapping=None, tables=None, extra: dict | None = None, **sections) -> dict:
    if frame is not None:
        frame.to_csv(folder / file, index=False)
    raw = {"name": "acme", "source": {"kind": "csv", "path": str(folder)},
           "tables": tables or {"transactions": {"file": file}},
           "mapping": {"transactions": MAPPING if mapping is None else mapping}}
    raw.update(extra or {})
    raw.update(sections)
    return raw


def load(raw: dict, **kw):
    return load_data(load_settings(raw), **kw)


def contract_problems(raw: dict, **kw) -> dict:
    with pytest.raises(ContractError) as info:
        load(raw, **kw)
    return {(p.table, p.column): p for p in info.value.problems}


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


def toml_for(folder: Path, body: str) -> Path:
    path = folder / "company.toml"
    path.write_text(f'name = "acme"\n[source]\nkind = "csv"\npath = "{folder.as_posix()}"\n'
                    + body)
    return path


# -- future dates --------------------------------------------------------------------------


def test_future_dates_are_an_error_by_default_against_the_run_date(tmp_path):
    frame = GOOD.copy()
    frame.loc[3, "day"] = "2099-06-01"
    found = contract_problems(write_config(tmp_path, frame))
    p = found[("transactions", "timestamp")]
    assert "future" in p.issue and p.count == 1 and "row 5" in p.examples
    assert "future_dates" in p.fix and "as_of" in p.fix


def test_future_dates_excluded_and_counted_or_judged_against_the_configured_as_of(tmp_path):
    frame = GOOD.copy()
    frame.loc[3, "day"] = "2099-06-01"
    raw = write_config(tmp_path, frame, rules={"future_dates": "exclude"})
    data = load(raw)
    assert len(data.transactions) == 3 and data.ledger.reconciles
    reasons = data.ledger.excluded()
    assert reasons["reason"].str.contains("dated after").any()
    assert reasons["revenue"].sum() == 7.25
    # with [periods] as_of the rule looks at that day, not the run date
    raw = write_config(tmp_path, GOOD, periods={"as_of": "2026-02-15"})
    assert ("transactions", "timestamp") in contract_problems(raw)


# -- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, issue", [
    ("inf", "infinite"), ("-inf", "infinite"), ("1e300", "money limit"),
    ("1e17", "money limit"), ("nan", "missing values"), ("Infinity", "infinite"),
])
def test_non_finite_and_absurd_revenue_are_contract_errors(tmp_path, value, issue):
    frame = GOOD.copy()
    frame.loc[1, "amount"] = value
    p = contract_problems(write_config(tmp_path, frame))[("transactions", "revenue")]
    assert issue in p.issue and "row 3" in p.examples


def test_infinite_cost_and_the_configurable_money_limit(tmp_path):
    frame = GOOD.assign(cogs=["1", "inf", "2", "3"])
    raw = write_config(tmp_path, frame, mapping={**MAPPING, "cost": "cogs"})
    assert "infinite" in contract_problems(raw)[("transactions", "cost")].issue
    raw = write_config(tmp_path, GOOD, rules={"money_limit": 15})
    p = contract_problems(raw)[("transactions", "revenue")]
    assert "money limit of 15" in p.issue and p.count == 1 and "money_limit" in p.fix


def test_sub_cent_lines_are_summed_exactly(tmp_path):
    """387 lines of 0.5 each total 193.50; rounding each line to cents first gave 195.00
    (0.5 -> 1 cent ... in the old half-up per-line rounding of 0.005 prices)."""
    n = 387
    frame = pd.DataFrame({"order": [f"o{i}" for i in range(n)], "client": ["a"] * n,
                          "day": ["2026-01-05"] * n, "amount": ["0.5"] * n})
    frame.loc[:, "amount"] = "0.005"
    frame = pd.concat([frame] * 100, ignore_index=True)
    frame["order"] = [f"o{i}" for i in range(len(frame))]
    data = load(write_config(tmp_path, frame))
    rec = data.ledger.reconciliation().iloc[0]
    assert rec["revenue_in"] == pytest.approx(193.5, abs=1e-9) and rec["reconciles"]
    assert rec["source_total"] == "193.50"


def test_thousands_and_decimal_separators_must_fit_the_digit_groups(tmp_path):
    frame = GOOD.copy()
    frame["amount"] = ["1.804.190,42", "181.38", "12,00", "7"]
    raw = write_config(tmp_path, frame, formats={"decimal": ",", "thousands": "."})
    p = contract_problems(raw)[("transactions", "revenue")]
    assert "separators" in p.issue and p.count == 1 and "'181.38'" in p.examples
    # the other way round: a comma where the file writes decimals with a point
    frame["amount"] = ["1,804,190.42", "181.38", "12,00", "7"]
    raw = write_config(tmp_path, frame, formats={"decimal": ".", "thousands": ","})
    p = contract_problems(raw)[("transactions", "revenue")]
    assert "'12,00'" in p.examples and 'decimal = ","' in p.fix


def test_money_totals_far_beyond_int64_cents_still_reconcile(tmp_path):
    n = 40_000
    frame = pd.DataFrame({"order": [f"o{i}" for i in range(n)], "client": ["a"] * n,
                          "day": ["2026-01-05"] * n, "amount": ["999999999.999999"] * n})
    data = load(write_config(tmp_path, frame, rules={"money_limit": 1e9}))
    rec = data.ledger.reconciliation().iloc[0]
    assert rec["reconciles"] and rec["source_total"] == "39,999,999,999,999.96"
    assert sum(r["revenue_micros"] for r in data.ledger.rows if r["step"] == "input") == \
        999_999_999_999_999 * n


# -- rules and values ------------------------------------------------------------------------


def test_cancelled_values_given_as_one_string_exclude_cancelled_orders(tmp_path):
    frame = GOOD.assign(state=["ok", "Cancelled", "ok", "ok"])
    raw = write_config(tmp_path, frame, mapping={**MAPPING, "status": "state"},
                       rules={"cancelled_values": "cancelled"})
    data = load(raw)
    assert "o2" not in set(data.transactions["transaction_id"])
    assert data.ledger.excluded()["reason"].tolist() == ["cancelled order"]


def test_unchecked_values_are_now_errors(tmp_path):
    pd.DataFrame({"client": ["a", "b"], "src": ["referral", "tv"],
                  "kind": ["consumer", "alien"]}).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"client": ["a", "b"], "when": ["2026-01-02"] * 2, "score": ["4", "5"],
                  "nps": ["7", "11"]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"client": ["a", "b"], "opened": ["2026-01-05", "2026-01-05"],
                  "closed": ["2026-01-06", "2026-01-01"], "type": ["complaint"] * 2}
                 ).to_csv(tmp_path / "i.csv", index=False)
    raw = write_config(tmp_path, GOOD, tables={
        "transactions": {"file": "sales.csv"}, "customers": {"file": "c.csv"},
        "surveys": {"file": "s.csv"}, "interactions": {"file": "i.csv"}})
    raw["mapping"].update({
        "customers": {"customer_id": "client", "channel": "src", "market_type": "kind"},
        "surveys": {"customer_id": "client", "survey_date": "when",
                    "would_recommend": "nps"},
        "interactions": {"customer_id": "client", "opened_at": "opened",
                         "resolved_at": "closed"}})
    found = contract_problems(raw)
    channel = found[("customers", "channel")]
    assert "unknown category" in channel.issue and "'tv'" in channel.examples
    assert "[values.customers.channel]" in channel.fix and "referral" in channel.fix
    assert "'alien'" in found[("customers", "market_type")].examples
    assert "0-10" in found[("surveys", "would_recommend")].issue
    early = found[("interactions", "resolved_at")]
    assert "before it was opened" in early.issue and "row 3" in early.examples


def test_survey_ids_mostly_unknown_is_an_error_a_few_are_counted(tmp_path):
    surveys = pd.DataFrame({"order": [f"o{i}" for i in range(8)],
                            "client": ["a", "b", "a", "zz", "c", "a", "b", "c"],
                            "when": ["2026-01-09"] * 8, "score": ["4", "5", "3", "2"] * 2})
    surveys.to_csv(tmp_path / "s.csv", index=False)
    raw = write_config(tmp_path, GOOD, tables={"transactions": {"file": "sales.csv"},
                                               "surveys": {"file": "s.csv"}})
    raw["mapping"]["surveys"] = {"customer_id": "order", "survey_date": "when"}  # wrong key
    p = contract_problems(raw)[("surveys", "customer_id")]
    assert "8 of 8 customer ids" in p.issue and "wrong key" in p.fix
    raw["mapping"]["surveys"] = {"customer_id": "client", "survey_date": "when"}
    data = load(raw)
    assert len(data.surveys) == 7
    line = data.ledger.excluded().query("table == 'surveys'")
    assert line["reason"].tolist() == ["customer not in the transactions"]
    assert line["rows"].tolist() == [1] and data.ledger.reconciles


def test_duplicate_ids_ask_whether_the_column_is_an_invoice_number(tmp_path):
    frame = GOOD.assign(order=["inv1", "inv1", "inv2", "inv2"])
    p = contract_problems(write_config(tmp_path, frame))[("transactions", "transaction_id")]
    assert "order or invoice number" in p.fix and "2 of 4 lines (50%)" in p.fix
    assert "row 3: 'inv1'" in p.examples


def test_numbers_in_messages_are_plain(tmp_path):
    frame = GOOD.copy()
    frame["amount"] = ["10", "0", "5", "7"]
    text = str(contract_problems(write_config(tmp_path, frame))[("transactions", "revenue")])
    assert "row 3: 0.0" in text and "np." not in text


def test_returns_get_their_own_ledger_line(tmp_path):
    data = load(write_config(tmp_path, GOOD))
    kept = data.ledger.to_frame().query("step == 'kept'").set_index("reason")
    assert kept.loc["returns kept (negative lines, netted against sales)", "rows"] == 1
    assert kept.loc["returns kept (negative lines, netted against sales)", "revenue"] == -5.0
    assert kept.loc["sales lines kept", "revenue"] == 37.75


def test_mixed_time_zones_name_table_column_and_rows(tmp_path):
    frame = GOOD.copy()
    frame["day"] = ["2026-01-05T10:00:00+01:00", "2026-01-06T10:00:00",
                    "2026-02-01T10:00:00Z", "2026-03-01T10:00:00"]
    p = contract_problems(write_config(tmp_path, frame))[("transactions", "timestamp")]
    assert "mixed time zones" in p.issue and "row 2" in p.examples and "row 3" in p.examples


# -- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, message", [
    ("sales.xlsx", b"this is not a workbook", "sales.xlsx.*cannot be read as excel"),
    ("sales.xlsx", b"", "sales.xlsx is empty"),
    ("sales.csv", b"", "sales.csv is empty"),
    ("sales.csv", b"order,client,day,amount\n", "sales.csv.*header but no rows"),
    ("sales.csv", bytes(range(256)) * 4, "sales.csv looks binary"),
    ("sales.csv", "ordér;€\n".encode("cp1252") * 3, "sales.csv.*not text in encoding"),
])
def test_damaged_files_are_named(tmp_path, capsys, name, content, message):
    (tmp_path / name).write_bytes(content)
    raw = write_config(tmp_path, file=name)
    with pytest.raises(SourceError, match=message):
        load(raw)
    config = toml_for(tmp_path, f'[tables.transactions]\nfile = "{name}"\n')
    code, text = run_cli(["validate", "--config", str(config)], capsys)
    assert code == 2 and name in text


def test_a_missing_file_suggests_the_closest_name(tmp_path):
    GOOD.to_csv(tmp_path / "sales_2026.csv", index=False)
    with pytest.raises(FileNotFoundError, match="did you mean 'sales_2026.csv'"):
        load(write_config(tmp_path, file="sales_2025.csv"))


def test_malformed_toml_via_the_cli_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('name = "acme"\n\n[source]\nkind = csv\n')
    code, text = run_cli(["validate", "--config", str(config)], capsys)
    assert code == 2 and "bad.toml" in text and "line 4" in text


def test_demo_with_zero_customers_is_a_usage_message(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--customers", "0", "--out", "/nonexistent/demo"])
    assert info.value.code == 2
    assert "at least 50" in capsys.readouterr().err


def test_engine_url_that_fails_to_connect_hides_the_password(tmp_path, capsys):
    config = tmp_path / "db.toml"
    config.write_text('name = "acme"\n[source]\nkind = "sql"\n'
                      'url = "sqlite:////nonexistent/folder/s3cretpw.db"\n'
                      '[tables.transactions]\ntable = "sales"\n')
    code, text = run_cli(["validate", "--config", str(config)], capsys)
    assert code == 2 and "ERROR" in text
    config.write_text('name = "acme"\n[source]\nkind = "sql"\n'
                      'url = "postgresql://analyst:s3cretpw@127.0.0.1:9/shop"\n'
                      '[tables.transactions]\ntable = "sales"\n')
    code, text = run_cli(["validate", "--config", str(config)], capsys)
    assert code == 2 and "s3cretpw" not in text and "analyst:***@" in text


def test_redact_blanks_passwords_in_urls_and_key_value_pairs():
    url = "postgresql://bob:hunter2@db.example:5432/shop"
    text = redact(f"could not connect to {url}: password=hunter2 rejected; hunter2", url)
    assert "hunter2" not in text and "bob:***@db.example" in text


# -- the mapping language: errors in the user's own words ---------------------------------------


def test_a_misspelt_column_in_an_expression_suggests_the_file_s_own_name(tmp_path):
    frame = GOOD.assign(Quantity=["1", "2", "1", "1"], UnitPrice=["10.5", "10", "-5", "7.25"])
    raw = write_config(tmp_path, frame, mapping={**MAPPING, "revenue": "Quantity * UnitPrize"})
    with pytest.raises(SourceError) as info:
        load(raw)
    text = str(info.value)
    assert "[mapping.transactions] revenue" in text and "did you mean 'UnitPrice'" in text
    assert "sales.csv" in text


def test_a_missing_required_column_lists_the_file_s_columns_and_a_suggestion(tmp_path):
    frame = GOOD.drop(columns="amount").assign(Quantity=["1"] * 4, UnitPrice=["2.5"] * 4)
    raw = write_config(tmp_path, frame, mapping={k: v for k, v in MAPPING.items()
                                                 if k != "revenue"})
    p = contract_problems(raw)[("transactions", "revenue")]
    assert "UnitPrice" in p.examples and "Quantity * UnitPrice" in p.fix


def test_a_snapshot_mapped_as_transactions_says_where_to_go(tmp_path):
    pd.DataFrame({"customerID": ["1-A", "2-B"], "tenure": [3, 10], "Churn": ["Yes", "No"],
                  "MonthlyCharges": [20.5, 70.0]}).to_csv(tmp_path / "snap.csv", index=False)
    raw = write_config(tmp_path, file="snap.csv", mapping={"customer_id": "customerID"})
    found = contract_problems(raw)
    fix = found[("transactions", "timestamp, revenue")].fix
    assert "subscription snapshot" in fix and "config/examples/subscription_snapshot.toml" in fix
    raw = write_config(tmp_path, file="snap.csv", mapping={"customer_id": "customerID"},
                       business="subscription")
    with pytest.raises(ContractError, match="(?s)subscriptions.*missing.*subscription_snapshot"):
        load(raw)


def test_a_lookup_on_a_key_that_repeats_is_an_error_not_repeated_rows(tmp_path):
    pd.DataFrame({"client": ["a", "a", "b", "c"], "person": ["P1", "P1", "P2", "P3"]}).to_csv(
        tmp_path / "people.csv", index=False)
    raw = write_config(tmp_path, GOOD, files={"people": {"file": "people.csv"}},
                       tables={"transactions": {"file": "sales.csv",
                                                "join": [{"file": "people", "on": "client"}]}},
                       mapping={**MAPPING, "customer_id": "person"})
    with pytest.raises(SourceError, match="1 key.*more than once in people.csv.*aggregate"):
        load(raw)
    raw["tables"]["transactions"]["join"] = [{"file": "peple", "on": "client"}]
    with pytest.raises(SourceError, match="did you mean 'people'"):
        load(raw)


def test_a_filter_excludes_rows_and_counts_them(tmp_path):
    raw = write_config(tmp_path, GOOD, tables={"transactions": {
        "file": "sales.csv", "filter": "client <> 'c'"}})
    data = load(raw)
    assert len(data.transactions) == 3 and data.ledger.reconciles
    line = data.ledger.excluded()
    assert line["reason"].tolist() == ["filtered out by the mapping (filter: client <> 'c')"]
    assert line["revenue"].tolist() == [7.25]


# -- the cache -------------------------------------------------------------------------------


def test_a_corrupted_cache_is_detected_rebuilt_and_announced(small_demo_config, tmp_path):
    from analysis.engine.context import CacheWarning, load_cached

    settings = load_settings(small_demo_config)
    first, first_hash = load_cached(settings, tmp_path)
    for path in tmp_path.glob("data_*/transactions.parquet"):
        path.write_bytes(b"garbage")
    with pytest.warns(CacheWarning, match="damaged.*rebuilding"):
        again, again_hash = load_cached(settings, tmp_path)
    assert again_hash == first_hash
    pd.testing.assert_frame_equal(again.transactions, first.transactions)
    (next(tmp_path.glob("data_*")) / "meta.json").write_text("{not json")
    with pytest.warns(CacheWarning, match="damaged"):
        load_cached(settings, tmp_path)


def test_a_damaged_feature_cache_file_is_rebuilt(tmp_path):
    from analysis.engine.context import CacheWarning, read_or_build

    path = tmp_path / "features.parquet"
    path.write_bytes(b"PAR1 broken")
    with pytest.warns(CacheWarning, match="damaged"):
        frame = read_or_build(path, lambda: pd.DataFrame({"a": [1, 2]}))
    assert frame["a"].tolist() == [1, 2] and pd.read_parquet(path)["a"].tolist() == [1, 2]


def test_a_read_only_cache_folder_is_skipped_with_a_warning(small_demo_config, tmp_path,
                                                          monkeypatch):
    """chmod makes the folder read-only; root writes there all the same, so for root the
    write fails the way it fails for a user (EACCES)."""
    from analysis.engine import context

    if os.geteuid() == 0:
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(context.tempfile, "mkstemp", refuse)
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.warns(context.CacheWarning, match="cannot be written"):
            data, _ = context.load_cached(load_settings(small_demo_config), folder)
        assert len(data.transactions)
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_cache_folder_that_cannot_be_created_is_skipped_with_a_warning(small_demo_config,
                                                                         tmp_path):
    """A cache 'folder' below a file cannot be created, even by root."""
    from analysis.engine.context import CacheWarning, load_cached, read_or_build

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file")
    settings = load_settings(small_demo_config)
    with pytest.warns(CacheWarning, match="cannot be written"):
        data, _ = load_cached(settings, blocker / "cache")
    assert len(data.transactions)
    with pytest.warns(CacheWarning, match="cannot be written"):
        frame = read_or_build(blocker / "cache" / "f.parquet", lambda: pd.DataFrame({"a": [1]}))
    assert frame["a"].tolist() == [1]


def test_config_errors_are_value_errors_for_the_report_command():
    assert issubclass(ConfigError, ValueError) and issubclass(SourceError, ValueError)
