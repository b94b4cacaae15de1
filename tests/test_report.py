"""The report pack: every file, offline leadership HTML, PDF, schema, atomicity, determinism."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import jsonschema
import nbformat
import pytest
from pypdf import PdfReader

from analysis.report.pack import (
    NOTEBOOK_DIR,
    ReportError,
    build_pack,
    check_leadership,
    inside,
    load_schema,
    prerequisites,
    run_order,
    validate_period,
)
from analysis.report.render import external_resources

PACK_FILES = ("analyst.html", "leadership.html", "leadership.pdf", "results.json",
              "run_info.json", "ledger.csv", "notebooks/01_data_quality.ipynb",
              "notebooks/90_executive_summary.ipynb")


def copy_notebooks(folder: Path, names=("01_data_quality", "90_executive_summary")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", folder)
    return folder


def failing_notebook(folder: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        "period = None\nconfig = 'config/demo.toml'\noutput_dir = None\nseed = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "05_broken.ipynb")


@pytest.fixture(scope="module")
def pack(small_demo_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    notebooks = copy_notebooks(root / "notebooks")
    return build_pack(config=small_demo_config, reports_dir=root / "reports",
                      notebooks_dir=notebooks, progress=lambda _: None)


def test_pack_contains_every_file(pack):
    for name in PACK_FILES:
        assert (pack.folder / name).is_file(), name
    assert (pack.folder.parent / "index.html").is_file()
    assert not list(pack.folder.parent.glob(".tmp-*")), "temporary folder left behind"


def test_run_info_times_the_panel_task_apart_from_the_notebooks(pack):
    info = json.loads((pack.folder / "run_info.json").read_text())
    assert info["stages"]["panel"] > 0
    names = [n["name"] for n in info["notebooks"]]
    assert names == [r.name for r in pack.runs] == ["01_data_quality", "90_executive_summary"]


def test_leadership_html_has_no_code_and_no_external_resources(pack):
    text = (pack.folder / "leadership.html").read_text()
    assert not re.search(r'class="[^"]*(jp-InputArea-editor|highlight)', text), "code cell shown"
    assert "open_period(" not in text, "code leaked into the leadership HTML"
    assert "Traceback" not in text
    assert "<script" not in text.lower()
    assert external_resources(text) == []
    assert not re.search(r"https?://", text), "leadership HTML mentions a URL"
    assert "Executive summary" in text and "Data quality" in text
    analyst = (pack.folder / "analyst.html").read_text()
    assert "open_period" in analyst and external_resources(analyst) == []


def test_leadership_starts_with_the_executive_summary(pack):
    text = (pack.folder / "leadership.html").read_text()
    assert text.index("Executive summary") < text.index("Data quality: what went")


def test_pdf_has_pages_and_names_the_period(pack):
    reader = PdfReader(pack.folder / "leadership.pdf")
    assert len(reader.pages) >= 2
    first = reader.pages[0].extract_text()
    assert pack.period in first


def test_results_json_validates_and_reconciles(pack):
    payload = json.loads((pack.folder / "results.json").read_text())
    jsonschema.validate(payload, load_schema())
    assert payload["period"] == pack.period
    assert [c["claim_id"] for c in payload["claims"]] == [f"C{i}" for i in range(1, 13)]
    assert payload["ledger"]["reconciles"] is True
    assert payload["kpis"]["current"]["customers"]["value"] > 0


def test_rerun_gives_the_same_results_and_failure_keeps_the_good_pack(pack, tmp_path):
    reports = pack.folder.parent
    before = (pack.folder / "results.json").read_bytes()
    notebooks = copy_notebooks(tmp_path / "notebooks")
    build_pack(pack.period, _config_of(pack), reports, notebooks_dir=notebooks, pdf=False,
               progress=lambda _: None)
    assert (pack.folder / "results.json").read_bytes() == before, "rerun changed the numbers"

    failing_notebook(notebooks)
    with pytest.raises(ReportError) as error:
        build_pack(pack.period, _config_of(pack), reports, notebooks_dir=notebooks, pdf=False,
                   progress=lambda _: None)
    message = str(error.value)
    assert "05_broken.ipynb" in message and "cell" in message and "deliberate failure" in message
    assert (pack.folder / "results.json").read_bytes() == before
    failed = list((reports / "_failed").glob(f"{pack.period}-*"))
    assert failed and (failed[0] / "notebooks" / "05_broken.ipynb").exists()


def _config_of(pack) -> str:
    info = json.loads((pack.folder / "run_info.json").read_text())
    return info["parameters"]["config"]


@pytest.mark.parametrize("bad", ["2026-13", "../2026-10", "2026-1", "__import__('os')", ""])
def test_bad_periods_are_refused(bad):
    with pytest.raises(ReportError, match="YYYY-MM"):
        validate_period(bad)


def test_bad_data_stop_the_pack_with_every_contract_problem(small_demo_config, tmp_path):
    """The data are validated in a process of their own; its error arrives intact."""
    import pandas as pd

    from analysis.data.contract import ContractError
    from conftest import write_demo_config

    source = small_demo_config.parent / "data"
    data = tmp_path / "data"
    shutil.copytree(source, data)
    tx = pd.read_parquet(data / "transactions.parquet")
    tx.loc[tx.index[:3], "revenue"] = 0.0
    tx.to_parquet(data / "transactions.parquet")
    config = write_demo_config(tmp_path, data, 1500)
    with pytest.raises(ContractError, match="zero revenue") as error:
        build_pack("2026-10", config, tmp_path / "reports", pdf=False, progress=lambda _: None)
    assert error.value.problems and error.value.problems[0].count == 3
    assert not (tmp_path / "reports" / "2026-10").exists()


def test_leadership_check_finds_addresses_next_to_long_images(tmp_path):
    page = tmp_path / "leadership.html"
    image = '<img src="data:image/png;base64,' + "QUFBQUFB+/" * 100_000 + '">'
    page.write_text(image + "<p>ask jane.doe+vip@example.co.uk</p>")
    with pytest.raises(ReportError, match="jane.doe"):
        check_leadership(page)
    page.write_text(image + '<img src="logo@2x.png"><p>no address here</p>')
    check_leadership(page)


def test_paths_cannot_escape_the_reports_folder(tmp_path):
    assert inside(tmp_path, "2026-10") == (tmp_path / "2026-10").resolve()
    with pytest.raises(ReportError, match="outside"):
        inside(tmp_path, "..", "elsewhere")


def test_run_order_puts_dependencies_first_and_summaries_last(tmp_path):
    for name, deps in (("01_a", []), ("02_b", []), ("06_seg", ["02_b"]), ("90_sum", [])):
        nb = nbformat.v4.new_notebook()
        nb.metadata["cvl"] = {"depends_on": deps}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    paths = sorted(tmp_path.glob("*.ipynb"))
    assert prerequisites(paths) == {"01_a": set(), "02_b": set(), "06_seg": {"02_b"},
                                    "90_sum": {"01_a", "02_b", "06_seg"}}
    # 02_b starts first: 06_seg waits for it and can then run next to 01_a
    assert run_order(paths) == ["02_b", "01_a", "06_seg", "90_sum"]


def test_the_panel_is_a_task_of_its_own_for_the_notebooks_that_read_it(tmp_path):
    for name, deps in (("01_a", []), ("03_c", ["panel"]), ("90_sum", ["panel"])):
        nb = nbformat.v4.new_notebook()
        nb.metadata["cvl"] = {"depends_on": deps}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    paths = sorted(tmp_path.glob("*.ipynb"))
    assert prerequisites(paths) == {"01_a": set(), "03_c": {"panel"}, "panel": set(),
                                    "90_sum": {"01_a", "03_c", "panel"}}
    # the panel starts first, so 01_a runs beside it and 03_c follows
    assert run_order(paths) == ["panel", "01_a", "03_c", "90_sum"]
    no_panel = [p for p in paths if p.stem == "01_a"]
    assert prerequisites(no_panel) == {"01_a": set()} and run_order(no_panel) == ["01_a"]


def test_run_order_refuses_cyclic_dependencies(tmp_path):
    for name, deps in (("01_a", ["02_b"]), ("02_b", ["01_a"])):
        nb = nbformat.v4.new_notebook()
        nb.metadata["cvl"] = {"depends_on": deps}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    with pytest.raises(ReportError, match="cycle"):
        run_order(sorted(tmp_path.glob("*.ipynb")))

def test_limit_threads_sets_pools_and_keeps_a_user_limit(monkeypatch):
    from analysis.report.pack import THREAD_VARIABLES, limit_threads

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    limit_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["MKL_NUM_THREADS"] == "3"
