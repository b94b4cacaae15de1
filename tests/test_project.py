"""Project plumbing: environment.yml agrees with pyproject, CI runs the README's test command,
the command line validates data and names problems, notebooks carry no outputs."""

from __future__ import annotations

import json
import re
import tomllib

import pandas as pd
import yaml

from analysis.cli import main
from analysis.core.paths import PROJECT_ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!\[ ]", spec, maxsplit=1)[0].lower()


def _pins(specs) -> dict[str, str]:
    return {_name(s): re.sub(r"\[.*\]", "", s).replace(" ", "") for s in specs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    conda = _pins(d for d in env["dependencies"] if isinstance(d, str)
                  and _name(d) not in {"python", "pip"})
    assert conda == wanted


def test_ci_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make report" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_notebooks_are_committed_without_outputs():
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, path.name


def test_validate_names_table_column_rows_and_fix(tmp_path, capsys):
    pd.DataFrame({"customer_id": ["a", "b", "c"], "timestamp": ["2026-01-01", "2026-13-45",
                                                                 "2026-01-03"],
                  "revenue": ["10", "12", "ten"]}).to_csv(tmp_path / "tx.csv", index=False)
    config = tmp_path / "broken.toml"
    config.write_text('name = "broken"\n[source]\nkind = "csv"\npath = "."\n'
                      '[tables.transactions]\nfile = "tx.csv"\n')
    assert main(["validate", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "transactions (tx.csv), column 'timestamp'" in err and "row 3" in err
    assert "column 'revenue'" in err and "'ten'" in err and "Fix:" in err


def test_validate_demo_prints_ledger(small_demo_config, capsys):
    assert main(["validate", "--config", str(small_demo_config)]) == 0
    out = capsys.readouterr().out
    assert "cancelled order" in out and "reconciles" in out
