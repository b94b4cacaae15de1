"""Small hand-made awkward companies, written as CSV files plus a company config.

Each is the demo generator's company (:func:`analysis.data.demo.generate`, a few hundred
customers) bent into one awkward shape that a large, complete and regular demo hides:

- ``odd_text``: category, region and raw channel values such as ``Resellers $$``,
  ``Promo $5 off``, ``<b>x</b>``, ``=cmd()`` and non-Latin text (the channels reach the
  contract through the config's ``[values.customers.channel]``);
- ``lapsed_channel``: every customer of one channel stops buying a year before the report
  month, so the whole channel lapses;
- ``one_month``: exactly one complete month of data;
- ``no_cost``: no cost column (so no profit anywhere);
- ``no_service_data``: no surveys and no interactions tables.

    config = write_company(tmp_path / "odd_text", "odd_text")
    # analysis report --config <config> --period 2026-10

Used by ``tests/test_awkward_packs.py``; run this file to write them all to a folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import demo

PERIOD = "2026-10"
START, END = "2024-11-01", "2026-11-01"      # two years; the report month is the last
ONE_MONTH = ("2026-10-01", "2026-11-01")
CUSTOMERS = 300
SEED = 20261202

ODD_TEXT = ("Resellers $$", "Promo $5 off", "<b>x</b>", "=cmd()", "Café ☕ 日本",
            "50% off_{now}^2 \\n")
#: raw channel values of the odd-text company -> the contract's channels (config mapping)
ODD_CHANNELS = {"referral": "Word of mouth ☕", "advertising": "Promo $5 off",
                "organic": "<b>x</b>", "trade_fair": "=cmd()", "partner": "Resellers $$"}
LAPSED_CHANNEL = "trade_fair"
KINDS = ("odd_text", "lapsed_channel", "one_month", "no_cost", "no_service_data")


def tables(kind: str, n_customers: int = CUSTOMERS, seed: int = SEED
           ) -> dict[str, pd.DataFrame]:
    """The raw tables of one awkward company (what it would export)."""
    if kind not in KINDS:
        raise ValueError(f"unknown awkward company {kind!r}; one of {', '.join(KINDS)}")
    start, end = ONE_MONTH if kind == "one_month" else (START, END)
    raw, _, _ = demo.generate(n_customers, seed, start, end)
    raw = {name: frame.copy() for name, frame in raw.items()}
    if kind == "odd_text":
        rng = np.random.default_rng(seed)
        tx, customers = raw["transactions"], raw["customers"]
        tx["category"] = rng.choice(ODD_TEXT, size=len(tx))
        customers["region"] = rng.choice(ODD_TEXT, size=len(customers))
        customers["channel"] = customers["channel"].map(ODD_CHANNELS)
    elif kind == "lapsed_channel":
        customers, tx = raw["customers"], raw["transactions"]
        gone = set(customers.loc[customers["channel"] == LAPSED_CHANNEL, "customer_id"])
        cutoff = pd.Timestamp(END) - pd.DateOffset(months=13)
        late = tx["customer_id"].isin(gone) & (tx["timestamp"] >= cutoff)
        raw["transactions"] = tx[~late].reset_index(drop=True)
        # the lapsed customers all signed up (and first bought) before the cut-off
        first = raw["transactions"].groupby("customer_id")["timestamp"].min()
        keep = ~customers["customer_id"].isin(gone) | customers["customer_id"].isin(first.index)
        raw["customers"] = customers[keep].reset_index(drop=True)
        known = set(raw["customers"]["customer_id"])
        for name in ("surveys", "interactions"):
            frame = raw[name]
            raw[name] = frame[frame["customer_id"].isin(known)].reset_index(drop=True)
        raw["transactions"] = raw["transactions"][
            raw["transactions"]["customer_id"].isna()
            | raw["transactions"]["customer_id"].isin(known)].reset_index(drop=True)
    elif kind == "no_cost":
        raw["transactions"] = raw["transactions"].drop(columns="cost")
    elif kind == "no_service_data":
        del raw["surveys"], raw["interactions"]
    return raw


def config_text(kind: str, tables_written: dict[str, str], data_folder: Path) -> str:
    """The company config: the CSV files, their mapping and the demo company's rules."""
    lines = [f'name = "awkward-{kind.replace("_", "-")}"']
    if "surveys" in tables_written:
        lines.append('satisfaction_scale = "csat5"')
    lines += [f"seed = {SEED}", "", "[source]", 'kind = "csv"',
              f'path = "{data_folder.as_posix()}"', ""]
    for name, file in tables_written.items():
        lines += [f"[tables.{name}]", f'file = "{file}"', ""]
    if kind == "odd_text":
        lines.append("[values.customers.channel]")
        lines += [f"{toml_string(raw)} = {toml_string(contract)}"
                  for contract, raw in ODD_CHANNELS.items()]
        lines.append("")
    lines += ["[rules]", 'anonymous_transactions = "exclude"', 'cancelled_values = ["cancelled"]',
              "", "[periods]", "months = 1", "as_of = 2026-11-30", "", "[churn]",
              "inactivity_days = 180", ""]
    return "\n".join(lines)


def toml_string(value: str) -> str:
    """A TOML basic string (quotes and backslashes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_company(folder: str | Path, kind: str, n_customers: int = CUSTOMERS,
                  seed: int = SEED) -> Path:
    """Write one awkward company as CSV files plus ``company.toml``; returns the config."""
    folder = Path(folder)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables(kind, n_customers, seed).items():
        file = f"{name}.csv"
        frame.drop(columns=[c for c in ("name", "email") if c in frame]).to_csv(
            data / file, index=False)
        written[name] = file
    config = folder / "company.toml"
    config.write_text(config_text(kind, written, data), encoding="utf-8")
    return config


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "awkward_companies")
    for kind in KINDS:
        print(write_company(root / kind, kind))
