"""Every notebook runs top to bottom on a small demo company, and is committed clean."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.report.pack import NOTEBOOK_DIR, dependencies, list_notebooks

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


def _handoffs(path: Path, verb: str) -> set[str]:
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    return set(re.findall(rf"{verb}_handoff\([^)]*'(\w+)'\)", source))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_declares_the_notebooks_whose_handoffs_it_reads(path: Path):
    """Notebooks run concurrently; reading a hand-off without depending on its writer races."""
    writers = {name: other.stem for other in NOTEBOOKS for name in _handoffs(other, "write")}
    needed = {writers[name] for name in _handoffs(path, "read") if name in writers}
    missing = needed - dependencies(path)
    assert not missing, (f"{path.name} reads hand-offs of {sorted(missing)}: list them in the "
                         "notebook metadata cvl.depends_on")


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
