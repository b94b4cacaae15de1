"""The config schema: one pydantic schema for the whole file. Unknown keys are errors with a
"did you mean", wrong types name the key, malformed files name the line; every shipped config
loads."""

from __future__ import annotations

import datetime as dt

import pytest

from analysis.core.paths import PROJECT_ROOT
from analysis.data.config import ConfigError, load_settings, read_config_file

BASE = {"name": "acme", "source": {"kind": "csv", "path": "."},
        "tables": {"transactions": {"file": "sales.csv"}}}


def settings_with(**sections):
    raw = {**BASE}
    for key, value in sections.items():
        raw[key] = value if not isinstance(value, dict) else {**raw.get(key, {}), **value}
    return load_settings(raw)


def problem(**sections) -> str:
    with pytest.raises(ConfigError) as info:
        settings_with(**sections)
    return str(info.value)


@pytest.mark.parametrize("sections, key, suggestion", [
    ({"satisfation_scale": "csat5"}, "satisfation_scale", "satisfaction_scale"),
    ({"periods": {"month": 3}}, "[periods] month", "months"),
    ({"churn": {"inactivity_day": 30}}, "[churn] inactivity_day", "inactivity_days"),
    ({"source": {"kind": "csv", "pth": "."}}, "[source] pth", "path"),
    ({"tables": {"transactions": {"file": "a.csv", "seperator": ";"}}},
     "[tables.transactions] seperator", None),
    ({"rules": {"future_date": "exclude"}}, "[rules] future_date", "future_dates"),
    ({"formats": {"decimals": ","}}, "[formats] decimals", "decimal"),
    ({"privacy": {"salts": "x"}}, "[privacy] salts", "salt"),
    ({"privacy": {"export_raw_id": True}}, "[privacy] export_raw_id", "export_raw_ids"),
    ({"assumptions": {"gross_margins": 0.4}}, "[assumptions] gross_margins", "gross_margin"),
])
def test_unknown_keys_are_errors_with_did_you_mean(sections, key, suggestion):
    text = problem(**sections)
    assert key in text and "unknown key" in text
    if suggestion:
        assert f"did you mean {suggestion!r}" in text


@pytest.mark.parametrize("sections, key", [
    ({"periods": {"months": "three"}}, "[periods] months = 'three'"),
    ({"periods": {"months": 5}}, "[periods] months = 5"),
    ({"churn": {"inactivity_days": "x"}}, "[churn] inactivity_days = 'x'"),
    ({"churn": {"inactivity_days": -3}}, "[churn] inactivity_days = -3"),
    ({"rules": {"zero_revenue": "drop"}}, "[rules] zero_revenue = 'drop'"),
    ({"satisfaction_scale": "stars7"}, "satisfaction_scale = 'stars7'"),
    ({"assumptions": {"gross_margin": 1.5}}, "[assumptions] gross_margin = 1.5"),
    ({"business": "shopping"}, "business = 'shopping'"),
    ({"rules": {"money_limit": 1e20}}, "[rules] money_limit"),
])
def test_wrong_types_and_values_name_the_key(sections, key):
    assert key in problem(**sections)


def test_source_as_a_string_and_a_yaml_list_and_no_source(tmp_path):
    with pytest.raises(ConfigError, match="source = 'x'"):
        load_settings({**BASE, "source": "x"})
    path = tmp_path / "list.yaml"
    path.write_text("- name: acme\n- source: x\n")
    with pytest.raises(ConfigError, match="must be a table of keys.*list"):
        load_settings(path)
    with pytest.raises(ConfigError, match=r"needs a \[source\] table"):
        load_settings({"name": "acme"})


def test_malformed_toml_and_yaml_name_the_file_and_the_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "acme"\n[source]\nkind = csv\n')
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    assert "broken.toml" in str(info.value) and "line 3" in str(info.value)
    path = tmp_path / "broken.yaml"
    path.write_text("name: acme\nsource:\n  kind: [csv\n")
    with pytest.raises(ConfigError, match=r"broken.yaml is not valid YAML at line \d"):
        read_config_file(path)


def test_cancelled_values_as_one_string_is_one_value_not_letters():
    settings = settings_with(rules={"cancelled_values": "Cancelled"})
    assert settings.rules.cancelled_values == ("cancelled",)


def test_new_settings_fields_and_pass_through_tables():
    settings = settings_with(
        business="subscription",
        periods={"as_of": dt.date(2024, 1, 31)},
        assumptions={"gross_margin": 0.35},
        claims={"C1": {"margin": 0.05, "reason": "board target"}},
        engine={"backend": "spark", "url": "sc://localhost", "memory": "8GB"},
        privacy={"key_file": "~/.cvl/key", "export_raw_ids": True},
    )
    assert settings.business == "subscription"
    assert settings.as_of == dt.date(2024, 1, 31) == settings.as_of_date()
    assert settings.gross_margin == 0.35
    assert settings.section("claims") == {"C1": {"margin": 0.05, "reason": "board target"}}
    assert settings.section("engine")["backend"] == "spark"
    assert settings.section("privacy")["export_raw_ids"] is True
    default = settings_with()
    assert default.business == "shop" and default.as_of is None and default.gross_margin is None
    assert default.as_of_date() == dt.date.today()
    assert "window_months" in default.section("segments")   # falls back to the defaults file
    with pytest.raises(ConfigError, match=r"\[claims.C1\] margin = .wide."):
        settings_with(claims={"C1": {"margin": "wide", "reason": "x"}})
    with pytest.raises(ConfigError, match="backend"):
        settings_with(engine={"backend": "oracle"})


def test_mapping_and_tables_keys_are_checked_against_the_contract():
    assert "did you mean 'transactions'" in problem(tables={"transaction": {"file": "a.csv"}})
    assert "did you mean 'revenue'" in problem(mapping={"transactions": {"revenu": "x"}})
    assert "exactly one of file" in problem(tables={"transactions": {"file": "a", "query": "q"}})


@pytest.mark.parametrize("path", sorted(
    [*PROJECT_ROOT.glob("config/*.toml"), *PROJECT_ROOT.glob("config/examples/*.toml")]),
    ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    if path.name.endswith(".default.toml"):
        return  # defaults of one section, read through Settings.section
    settings = load_settings(path)
    assert settings.name and settings.raw["source"]
