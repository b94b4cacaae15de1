"""``analysis selfcheck``: every published value reproduced within 0.5%."""

from __future__ import annotations

import json

from analysis import cli
from analysis.analyses.selfcheck import PUBLISHED, TOLERANCE, selfcheck


def test_every_published_value_is_reproduced_within_half_a_percent():
    result = selfcheck()
    assert len(result.table) == sum(len(values) for values in PUBLISHED.values())
    assert (result.table["relative_difference"] <= TOLERANCE).all(), result.text()
    assert result.passed
    models = set(result.table["model"])
    assert {"BG/NBD", "Pareto/NBD", "Gamma-Gamma", "sBG"} <= models


def test_cli_prints_json_records(capsys):
    assert cli.main(["selfcheck", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert set(records[0]) == {"model", "parameter", "published", "reproduced"}
    assert any(r["model"].startswith("sBG") and r["parameter"] == "beta" for r in records)
