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
    NotebookRun,
    ReportError,
    build_pack,
    check_leadership,
    load_schema,
    prerequisites,
    run_order,
    validate_period,
)
from analysis.report.render import external_resources

PACK_FILES = ("analyst.html", "leadership.html", "leadership.pdf", "results.json",
              "run_info.json", "ledger.csv", "notebooks/01_data_quality.ipynb",
              "notebooks/90_executive_summary.ipynb")


def copy_notebooks(folder: Path, names=("01_data_quality", "02_concentration",
                                        "90_executive_summary")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", folder)
    return folder


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
    # timed apart (a panel already in the feature cache, built by an earlier test of the
    # session, takes well under 0.05 s and is recorded as 0.0: no timing is asserted)
    assert info["stages"]["panel"] >= 0 and "notebooks" in info["stages"]
    names = [n["name"] for n in info["notebooks"]]
    assert names == [r.name for r in pack.runs] == ["01_data_quality", "02_concentration",
                                                    "90_executive_summary"]


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


def notebook(folder: Path, name: str, code: str, cvl: dict | None = None,
             title: str = "") -> Path:
    """A small notebook with the pack's parameters cell (and a heading, if given)."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        "period = None\nconfig = 'config/demo.toml'\noutput_dir = None\nseed = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_markdown_cell(f"# {title}")] if title else []) + [
        params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if cvl:
        nb.metadata["cvl"] = cvl
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_index_shows_each_packs_own_figures(pack):
    """Every KPI in the index's row for the pack is the figure of its results.json."""
    from analysis.analyses.kpis import format_kpi
    from analysis.report.index import read_packs, shown_kpis

    payload = json.loads((pack.folder / "results.json").read_text())
    page = (pack.folder.parent / "index.html").read_text()
    row = page[page.index(f"<td>{pack.period}</td>"):]
    row = row[:row.index("</tr>")]
    shown = shown_kpis(read_packs(pack.folder.parent))
    assert {"customers", "revenue", "profit", "top20_share", "churn_rate"} <= set(shown)
    for name in shown:
        value = (payload["kpis"]["current"].get(name) or {}).get("value")
        assert f"<td>{format_kpi(name, value)}</td>" in row, name


def test_kpi_table_trend_and_index_agree_for_the_same_label_and_month(pack):
    """One definition per figure: for the report month, the KPI table in the leadership
    HTML, the trend data of results.json and the index page show the same figure under
    the same label (profit after service cost was 191,694 in the table and 243,228 in the
    trend of the same demo pack before)."""
    import html as html_lib

    from analysis.analyses.kpis import format_kpi

    payload = json.loads((pack.folder / "results.json").read_text())
    current = payload["kpis"]["current"]
    trend = {row["month"]: row for row in
             payload["sections"]["executive_summary"]["extra"]["kpi_trend"]}[pack.period]
    leadership = html_lib.unescape((pack.folder / "leadership.html").read_text())
    page = html_lib.unescape((pack.folder.parent / "index.html").read_text())
    for name in ("customers", "revenue", "profit", "top20_share", "churn_rate"):
        label, value = current[name]["label"], current[name]["value"]
        assert trend[name] == pytest.approx(value), name
        shown = format_kpi(name, value)
        cell = re.search(rf"<td[^>]*>\s*{re.escape(label)}\s*</td>", leadership)
        assert cell, (name, label)
        table_row = leadership[cell.end():]
        table_row = table_row[:table_row.index("</tr>")]
        assert re.search(rf"<td[^>]*>\s*{re.escape(shown)}\s*</td>", table_row), (name, shown)
        assert f"<th>{label}</th>" in page, name
    assert current["profit"]["label"] == "Profit after service cost"
    assert "lagging" in current["churn_rate"]["label"]


def printed_strings(folder: Path) -> set[str]:
    """Every string the pack shows or stores: words and values of its text files (images
    left out), whole JSON strings, and the columns of its Parquet files."""
    import pandas as pd

    found: set[str] = set()

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix in (".pdf", ".png"):
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            found |= {str(v) for c in frame.columns for v in frame[c].unique()[:5000]}
            continue
        text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", " ", path.read_text())
        found |= set(re.findall(r"[^\s\"'<>(),;`]+", text)) | set(text.split())
        if path.suffix in (".json", ".ipynb"):
            found |= set(strings(json.loads(path.read_text())))
    return found


def test_nothing_printed_in_the_pack_reproduces_a_pseudonym(pack, small_demo_config):
    """Hash the real ids of exported customers with every string printed in the pack (and
    with the old fallback ``customer-value-lab:<name>`` of each): none gives their
    pseudonyms. The key in use does, so the check can see a hit."""
    import pandas as pd

    from analysis.data import privacy
    from analysis.data.config import load_settings

    settings = load_settings(_config_of(pack))
    key = privacy.ensure_key(settings).secret
    exported = pd.read_csv(pack.folder / "exports" / "core_customers.csv")["customer_id"]
    real = pd.read_parquet(small_demo_config.parent / "data" / "customers.parquet")
    by_pseudonym = {privacy.pseudonym(i, key): i for i in real["customer_id"].astype(str)}
    assert set(exported) <= set(by_pseudonym), "exports not made with the company's key"
    sample = [by_pseudonym[c] for c in exported[:20]]
    targets = set(exported)

    def reproduces(candidate: str) -> bool:
        return any(privacy.pseudonym(i, candidate) in targets for i in sample)

    printed = printed_strings(pack.folder) - {""}
    assert settings.name in printed and str(settings.path) in printed
    assert key not in printed and not any(key in s for s in printed)
    candidates = printed | {f"customer-value-lab:{s}" for s in printed}
    assert reproduces(key)
    assert [c for c in candidates if reproduces(c)] == []


def test_rerun_gives_the_same_results(pack, tmp_path):
    reports = pack.folder.parent
    before = (pack.folder / "results.json").read_bytes()
    notebooks = copy_notebooks(tmp_path / "notebooks")
    rerun = build_pack(pack.period, _config_of(pack), reports, notebooks_dir=notebooks,
                       pdf=False, progress=lambda _: None)
    assert rerun.complete and rerun.folder == pack.folder
    assert (pack.folder / "results.json").read_bytes() == before, "rerun changed the numbers"
    assert [p.name for p in (reports / ".packs").iterdir()] == [
        os.readlink(pack.folder).split("/")[-1]], "the replaced pack was not removed"


def test_a_failing_section_does_not_sink_the_pack(pack, tmp_path, capsys):
    """05 fails at its second code cell; 06 lists it in depends_on and still runs (it would
    read 05's hand-offs only when present); 07 requires it and is not run. The pack is
    installed with every failure in its place, the summary lists them, results.json
    records them, and the command exits 1. With --strict the pack stays as it was."""
    from analysis.cli import main

    reports = pack.folder.parent
    notebooks = copy_notebooks(tmp_path / "notebooks", ("01_data_quality", "90_executive_summary"))
    notebook(notebooks, "05_broken", "x = 1\nraise RuntimeError('deliberate $5 and $6 <failure>')",
             title="Broken section")
    notebook(notebooks, "06_after", "print('ran without 05')", {"depends_on": ["05_broken"]},
             title="After the broken one")
    notebook(notebooks, "07_needs", "print('must not run')", {"requires": ["05_broken"]},
             title="Needs the broken one")
    args = ["report", "--period", pack.period, "--config", _config_of(pack), "--reports-dir",
            str(reports), "--notebooks-dir", str(notebooks)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "05_broken.ipynb: cell 3 failed with RuntimeError: deliberate $5 and $6 <failure>" in \
        captured.err
    assert "07_needs.ipynb: not run: it needs Broken section (05_broken.ipynb)" in captured.err

    payload = json.loads((pack.folder / "results.json").read_text())
    failed = {f["notebook"]: f for f in payload["failed_sections"]}
    assert set(failed) == {"05_broken.ipynb", "07_needs.ipynb"}
    broken = failed["05_broken.ipynb"]
    assert (broken["status"], broken["cell"], broken["error"], broken["code"]) == (
        "failed", 3, "RuntimeError", "x = 1")
    assert broken["message"] == "deliberate $5 and $6 <failure>" and broken["hint"]
    assert broken["affects"] == ["06_after.ipynb", "07_needs.ipynb"]
    assert failed["07_needs.ipynb"]["status"] == "skipped"
    jsonschema.validate(payload, load_schema())
    info = json.loads((pack.folder / "run_info.json").read_text())
    assert {n["name"]: n["status"] for n in info["notebooks"]} == {
        "01_data_quality": "ok", "05_broken": "failed", "06_after": "ok",
        "07_needs": "skipped", "90_executive_summary": "ok"}
    assert not (pack.folder / "failed_sections.json").exists()

    leadership = (pack.folder / "leadership.html").read_text()
    assert leadership.count('class="cvl-failed"') == 2
    assert "This section could not be completed" in leadership
    assert "This section was not run" in leadership
    assert "deliberate $5 and $6 &lt;failure&gt;" in leadership, "message not escaped"
    assert "Traceback" not in leadership and "x = 1" not in leadership
    summary_at = leadership.index("2 sections of this report could not be completed")
    assert summary_at < leadership.index("Data quality: what went")
    assert leadership.index("Broken section") < leadership.index("This section could not")
    analyst = (pack.folder / "analyst.html").read_text()
    assert analyst.count('class="cvl-failed"') == 2 and "ran without 05" in analyst
    assert "RuntimeError" in analyst and "papermill-error-cell" not in analyst
    pdf = " ".join(page.extract_text() for page in PdfReader(pack.folder / "leadership.pdf")
                   .pages)
    assert "This section could not be completed" in " ".join(pdf.split())

    before = (pack.folder / "results.json").read_bytes()
    only_broken = tmp_path / "only_broken"
    only_broken.mkdir()
    shutil.copy(notebooks / "05_broken.ipynb", only_broken)
    args[args.index("--notebooks-dir") + 1] = str(only_broken)
    assert main(args + ["--strict", "--no-pdf"]) == 2
    message = capsys.readouterr().err
    assert "05_broken.ipynb" in message and "cell 3" in message and "deliberate" in message
    assert "untouched" in message
    assert (pack.folder / "results.json").read_bytes() == before
    failed_runs = list((reports / "_failed").glob(f"{pack.period}-*"))
    assert failed_runs and (failed_runs[0] / "notebooks" / "05_broken.ipynb").exists()
    assert not list((reports / ".packs").glob("*.lock"))


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


def fake_tasks(monkeypatch, failing_tasks: dict[str, str]) -> list[str]:
    """The notebooks and the panel task replaced by stand-ins; a task named in
    ``failing_tasks`` fails with that message. Returns the tasks in the order they ran."""
    from analysis.report import failures
    from analysis.report import pack as pack_module

    ran: list[str] = []

    def execute(source, target, parameters):
        ran.append(source.stem)
        if source.stem in failing_tasks:
            error = RuntimeError(failing_tasks[source.stem])
            return NotebookRun(source.stem, 0.0, failures.from_exception(source, error))
        return NotebookRun(source.stem, 0.0)

    def panel(config, period):
        ran.append("panel")
        if "panel" not in failing_tasks:
            return NotebookRun("panel", 0.0)
        return NotebookRun("panel", 0.0, failures.Failure(
            "panel", "the customer x month panel", failures.FAILED, failing_tasks["panel"],
            "try again", "MemoryError"))

    monkeypatch.setattr(pack_module, "execute_notebook", execute)
    monkeypatch.setattr(pack_module, "build_panel_cache", panel)
    return ran


def write_tasks(folder: Path, tasks: dict[str, list[str]]) -> list[Path]:
    folder.mkdir(parents=True)
    for name, deps in tasks.items():
        notebook(folder, name, "pass", {"depends_on": deps}, title=name.upper())
    return sorted(folder.glob("*.ipynb"))


def test_a_failed_requirement_skips_its_dependents_and_the_rest_runs(monkeypatch, tmp_path):
    from analysis.report.failures import read_failures
    from analysis.report.pack import run_notebooks

    notebooks = write_tasks(tmp_path / "nb", {"01_a": [], "03_c": ["panel"], "04_d": ["01_a"],
                                              "90_sum": ["panel"]})
    ran = fake_tasks(monkeypatch, {"panel": "out of memory", "01_a": "boom"})
    work = tmp_path / "work"
    runs = run_notebooks(notebooks, work, {"config": "c", "period": "2026-10"}, 1,
                         lambda _: None)
    status = {r.name: r.status for r in runs}
    assert status == {"01_a": "failed", "03_c": "skipped", "04_d": "ok", "panel": "failed",
                      "90_sum": "skipped"}
    assert sorted(ran) == ["01_a", "04_d", "panel"]
    skipped = next(r for r in runs if r.name == "03_c").failure
    assert "the customer x month panel (panel)" in skipped.message
    recorded = {f["notebook"]: f for f in read_failures(work)}
    assert set(recorded) == {"01_a.ipynb", "03_c.ipynb", "panel", "90_sum.ipynb"}
    assert recorded["panel"]["affects"] == ["03_c.ipynb", "90_sum.ipynb"]
    assert recorded["01_a.ipynb"]["affects"] == ["04_d.ipynb"]
    assert recorded["01_a.ipynb"]["message"] == "boom"


def test_strict_starts_nothing_after_a_failure(monkeypatch, tmp_path):
    from analysis.report.pack import run_notebooks

    notebooks = write_tasks(tmp_path / "nb", {"01_a": [], "02_b": [], "90_sum": []})
    ran = fake_tasks(monkeypatch, {"01_a": "boom"})
    runs = run_notebooks(notebooks, tmp_path / "work", {"config": "c", "period": "2026-10"}, 1,
                         lambda _: None, strict=True)
    assert ran == ["01_a"] and [r.status for r in runs] == ["failed"]


def test_failure_hints_and_messages():
    from analysis.report import failures

    assert "--jobs 1" in failures.hint_for("DeadKernelError", "Kernel died")
    assert "analysis validate" in failures.hint_for("ContractError", "3 problems")
    assert failures.hint_for("ValueError", "x") == failures.DEFAULT_HINT
    long = failures.short("\x1b[31m" + "x" * 2000)
    assert len(long) == failures.MESSAGE_LIMIT and "\x1b" not in long
    assert failures.short("KeyError: 'jane.doe@example.com'") == "KeyError: '[e-mail address]'"


def test_all_months_go_on_after_a_failure_and_list_what_failed(monkeypatch, capsys, tmp_path):
    """--from/--to: a month that cannot be built does not stop the next one; the end of
    the output lists the months and sections that failed; exit 2 (no pack for a month),
    1 (sections failed), 0 (complete); --strict stops at the first failure."""
    from analysis.cli import main
    from analysis.report import pack as pack_module
    from analysis.report.failures import FAILED, Failure

    broken = Failure("04_churn.ipynb", "Churn", FAILED, "yerr negative", "try", "ValueError",
                     cell=7)
    built = []

    def fake_build(period, *args, strict=False, **kwargs):
        built.append(period)
        if period == "2026-08":
            raise ReportError("the data contract: 3 problems")
        failures = (broken,) if period == "2026-09" else ()
        return pack_module.Pack(period, tmp_path / period, (), 1.0, (), failures)

    monkeypatch.setattr(pack_module, "build_pack", fake_build)
    monkeypatch.setattr(pack_module, "requested_periods",
                        lambda args: ["2026-08", "2026-09", "2026-10"])
    command = ["report", "--from", "2026-08", "--to", "2026-10", "--reports-dir", str(tmp_path)]
    assert main(command) == 2 and built == ["2026-08", "2026-09", "2026-10"]
    err = capsys.readouterr().err
    assert "2026-08  no pack: the data contract: 3 problems" in err
    assert "2026-09  04_churn.ipynb: cell 7 failed with ValueError: yerr negative" in err
    assert "2026-10" not in err.split("Not complete")[1]
    built.clear()
    assert main(command + ["--strict"]) == 2 and built == ["2026-08"]
    monkeypatch.setattr(pack_module, "requested_periods", lambda args: ["2026-09", "2026-10"])
    assert main(command) == 1
    monkeypatch.setattr(pack_module, "requested_periods", lambda args: ["2026-10"])
    assert main(command) == 0


def test_a_claim_whose_section_failed_says_so():
    """A claim no section answered because its section failed says "section <name>
    failed", not "no analysis produced this claim"; other unanswered claims keep it."""
    from analysis.analyses.claims import NO_ANALYSIS, build_scorecard
    from analysis.report.failures import with_failed_sections

    failures = [{"notebook": "04_churn_retention.ipynb", "title": "Churn and retention",
                 "status": "failed"},
                {"notebook": "03_satisfaction.ipynb", "title": "Satisfaction",
                 "status": "skipped"}]
    scorecard = with_failed_sections(build_scorecard({}, "2026-10"), failures)
    assert scorecard.result("C3").reason == "section \u201cChurn and retention\u201d failed"
    assert "section \u201cChurn and retention\u201d failed" in scorecard.result("C3").summary
    assert scorecard.result("C7").reason == "section \u201cSatisfaction\u201d was not run"
    assert "\u201cChurn and retention\u201d failed" in scorecard.result("C11").reason
    assert scorecard.result("C1").reason == NO_ANALYSIS


def test_the_failure_block_and_table_never_show_none():
    from analysis.core.text import reader_text_problems
    from analysis.report.render import failure_block
    from analysis.report.summary import failed_sections_table

    failures = [{"notebook": "04_churn_retention.ipynb", "title": "Churn", "status": "failed",
                 "message": None, "hint": None, "error": "TypeError", "cell": None,
                 "code": "", "affects": []},
                {"notebook": "05_x.ipynb", "title": "X", "status": "failed",
                 "message": "value was None, score nan", "hint": "try", "error": "",
                 "cell": 4, "code": "", "affects": []}]
    for audience in ("leadership", "analyst"):
        for failure in failures:
            block = re.sub(r"<[^>]+>", " ", failure_block(failure, audience))
            assert not reader_text_problems(block), block
    table = failed_sections_table(failures)
    assert not [p for v in table.to_numpy().ravel() for p in reader_text_problems(str(v))]
    assert table["what happened"].tolist() == ["failed (04_churn_retention.ipynb)",
                                               "failed at cell 4 of 05_x.ipynb"]
