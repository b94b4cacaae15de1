"""Every notebook runs top to bottom on a small demo company, and is committed clean."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.report import NOTEBOOK_DIR, list_notebooks

NOTEBOOKS = list_notebooks(NOTEBOOK_DIR)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs_and_has_parameters(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), (
        f"{path.name}: the first code cell must be tagged 'parameters'")
    source = code[0].source
    for name in ("period", "config", "output_dir", "seed"):
        assert f"{name} =" in source, f"{path.name}: parameter {name} missing"
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip`"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_small_demo(path: Path, small_demo_config, tmp_path):
    out = tmp_path / "out"
    pm.execute_notebook(str(path), str(tmp_path / path.name), kernel_name="python3",
                        progress_bar=False, cwd=str(path.parent),
                        parameters={"config": str(small_demo_config), "output_dir": str(out)})
    sections = list((out / "results").glob("*.json"))
    assert sections, f"{path.name} wrote no results section"
    for section in sections:
        payload = json.loads(section.read_text())
        assert payload["period"] and payload["schema_version"]
