"""Installing packs: an atomic swap, one install at a time, stale folders cleared, clear
errors for folders that cannot be written; and, end to end, two reports of one period at
once, and a report killed while its notebooks run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from analysis.cli import main
from analysis.engine.context import CacheWarning
from analysis.report.install import PACKS, ReportsFolder, write_atomic
from analysis.report.pack import NOTEBOOK_DIR, ReportError

PERIOD = "2026-10"
FILES = [f"part{i}.txt" for i in range(20)] + ["results.json"]


def fake_pack(folder: ReportsFolder, period: str = PERIOD, tag: str = "x") -> Path:
    """Build and install a pack of a few files; returns the period's path."""
    build = folder.start(period)
    for name in FILES:
        (build.folder / name).write_text(tag)
    return folder.install(build, after=lambda: write_atomic(folder.root / "index.html", tag))


def test_install_replaces_the_pack_and_removes_the_old_one(tmp_path):
    folder = ReportsFolder(tmp_path / "reports")
    link = fake_pack(folder, tag="first")
    first = os.readlink(link)
    fake_pack(folder, tag="second")
    assert (link / "results.json").read_text() == "second"
    assert os.readlink(link) != first and not (folder.root / first).exists()
    assert [p.name for p in folder.packs.iterdir()] == [Path(os.readlink(link)).name]
    assert (folder.root / "index.html").read_text() == "second"
    leftovers = [p.name for p in folder.root.iterdir()
                 if p.name not in {PERIOD, PACKS, "index.html", ".lock"}]
    assert leftovers == []


def test_a_folder_from_before_versioned_packs_is_replaced(tmp_path):
    root = tmp_path / "reports"
    (root / PERIOD).mkdir(parents=True)
    (root / PERIOD / "results.json").write_text("old layout")
    folder = ReportsFolder(root)
    link = fake_pack(folder, tag="new")
    assert link.is_symlink() and (link / "results.json").read_text() == "new"
    assert sorted(p.name for p in root.iterdir()) == sorted([PERIOD, PACKS, "index.html",
                                                             ".lock"])


RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from analysis.report.install import ReportsFolder, write_atomic
    root, start, rounds = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    folder = ReportsFolder(root)
    time.sleep(max(0.0, start - time.time()))
    for i in range(rounds):
        build = folder.start("2026-10")
        for n in range(20):
            (build.folder / f"part{n}.txt").write_text(build.folder.name)
        (build.folder / "results.json").write_text(build.folder.name)
        folder.install(build, after=lambda: write_atomic(root / "index.html", build.folder.name))
""")


def test_many_installs_of_one_period_at_once_all_succeed(tmp_path):
    """10 processes x 10 installs of the same period at once: every one ends cleanly, the
    period is never missing, and the installed pack is complete and the only one left."""
    root = tmp_path / "reports"
    ReportsFolder(root)
    link = root / PERIOD
    missing = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if link.exists() and not os.path.lexists(link):
                missing.append(time.time())
            if os.path.lexists(link) and not os.readlink(link).startswith(PACKS + "/"):
                missing.append(os.readlink(link))

    start = time.time() + 2
    runs = [subprocess.Popen([sys.executable, "-c", RACE, str(root), str(start), "10"],
                             stderr=subprocess.PIPE, text=True) for _ in range(10)]
    fake_pack(ReportsFolder(root), tag="seed")   # so the watcher has a pack to watch
    watcher = threading.Thread(target=watch)
    watcher.start()
    errors = [run.communicate(timeout=240)[1] for run in runs]
    stop.set()
    watcher.join()
    assert [r.returncode for r in runs] == [0] * 10, errors
    assert missing == []
    installed = Path(os.readlink(link)).name
    assert sorted(p.name for p in (root / PACKS).iterdir()) == [installed]
    assert sorted(p.name for p in link.iterdir()) == sorted(FILES)
    assert {p.read_text() for p in link.iterdir()} == {installed}
    assert (root / "index.html").read_text() == installed
    assert sorted(p.name for p in root.iterdir()) == sorted([PERIOD, PACKS, "index.html",
                                                             ".lock"])


def test_stale_folders_are_removed_and_live_ones_kept(tmp_path):
    root = tmp_path / "reports"
    folder = ReportsFolder(root)
    crashed = subprocess.run(
        [sys.executable, "-c", "import os, sys\nfrom analysis.report.install import "
         "ReportsFolder\nb = ReportsFolder(sys.argv[1]).start('2026-09')\n"
         "(b.folder / 'half.txt').write_text('x')\nos._exit(9)", str(root)])
    assert crashed.returncode == 9
    stranded = [p.name for p in folder.packs.iterdir()]
    assert len(stranded) == 2   # the folder and its lock file
    live = folder.start(PERIOD)   # clears the crashed run's folder; this one is alive
    assert sorted(p.name for p in folder.packs.iterdir()) == sorted(
        [live.folder.name, f"{live.folder.name}.lock"])
    (root / ".tmp-2026-08-999999999").mkdir()       # left by an earlier version
    (root / f".old-2026-08-{os.getpid()}").mkdir()  # its owner is alive
    with folder.locked():
        assert folder.clean() == [".tmp-2026-08-999999999"]
    assert live.folder.exists()
    assert (root / f".old-2026-08-{os.getpid()}").exists()
    folder.install(live)
    assert (root / PERIOD).is_symlink()


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    write_atomic(tmp_path / "index.html", "a")
    write_atomic(tmp_path / "index.html", "b")
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
    assert (tmp_path / "index.html").read_text() == "b"


def unwritable_folders(tmp_path) -> list[Path]:
    """Folders that cannot be made, even by root: below a file, and in sysfs if present."""
    (tmp_path / "a-file").write_text("")
    folders = [tmp_path / "a-file" / "reports"]
    try:
        os.makedirs("/sys/cvl-lab-test")
    except OSError:
        folders.append(Path("/sys/cvl-lab-test"))
    else:
        os.rmdir("/sys/cvl-lab-test")
    return folders


def test_a_folder_that_cannot_be_written_is_named_with_the_fix(tmp_path, small_demo_config,
                                                               capsys):
    for reports in unwritable_folders(tmp_path):
        with pytest.raises(ReportError, match="--reports-dir") as error:
            ReportsFolder(reports)
        assert str(reports) in str(error.value)
        code = main(["report", "--period", PERIOD, "--config", str(small_demo_config),
                     "--reports-dir", str(reports)])
        err = capsys.readouterr().err
        assert code == 2 and str(reports) in err and "Traceback" not in err
    code = main(["report", "--period", PERIOD, "--config", str(small_demo_config),
                 "--reports-dir", str(tmp_path / "r"), "--notebooks-dir",
                 str(tmp_path / "no-notebooks")])
    err = capsys.readouterr().err
    assert code == 2 and "no-notebooks does not exist" in err and "Traceback" not in err


# -- end to end ---------------------------------------------------------------------------


def minimal_notebooks(folder: Path, sleep: float = 0) -> Path:
    """The data-quality notebook, and (with ``sleep``) one that reads the panel and waits."""
    import shutil

    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOK_DIR / "01_data_quality.ipynb", folder)
    if sleep:
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell("period = None\nconfig = None\noutput_dir = None\n"
                                           "seed = 1")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(f"import time\ntime.sleep({sleep})")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.metadata["cvl"] = {"depends_on": ["panel"]}
        nbformat.write(nb, folder / "02_wait.ipynb")
    return folder


def report_command(config: Path, reports: Path, notebooks: Path) -> list[str]:
    return [sys.executable, "-m", "analysis.cli", "report", "--period", PERIOD, "--config",
            str(config), "--reports-dir", str(reports), "--notebooks-dir", str(notebooks),
            "--no-pdf"]


@pytest.mark.slow
def test_two_reports_of_one_period_at_once_both_end_cleanly(small_demo_config, tmp_path):
    notebooks = minimal_notebooks(tmp_path / "notebooks")
    reports = tmp_path / "reports"
    command = report_command(small_demo_config, reports, notebooks)
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    pack = reports / PERIOD
    files = {str(p.relative_to(pack)) for p in pack.rglob("*") if p.is_file()}
    assert {"results.json", "analyst.html", "leadership.html", "ledger.csv", "run_info.json",
            "notebooks/01_data_quality.ipynb"} <= files
    assert json.loads((pack / "results.json").read_text())["period"] == PERIOD
    assert [p.name for p in (reports / PACKS).iterdir()] == [Path(os.readlink(pack)).name]
    assert PERIOD in (reports / "index.html").read_text()


def pack_processes(token: str) -> list[psutil.Process]:
    """Live processes (not zombies) whose environment carries ``token``."""
    found = []
    for process in psutil.process_iter():
        try:
            if (process.environ().get("CVL_TEST_RUN") == token
                    and process.status() != psutil.STATUS_ZOMBIE):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_killing_the_report_leaves_no_process_and_the_old_pack(small_demo_config, tmp_path):
    """kill -9 of the report process while a kernel runs: its workers, the panel process,
    the kernels and the resource tracker are gone within seconds; the old pack is intact."""
    notebooks = minimal_notebooks(tmp_path / "notebooks")
    reports = tmp_path / "reports"
    first = subprocess.run(report_command(small_demo_config, reports, notebooks),
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    old = (reports / PERIOD / "results.json").read_bytes()
    old_target = os.readlink(reports / PERIOD)

    minimal_notebooks(notebooks, sleep=120)
    token = uuid.uuid4().hex
    report = subprocess.Popen(report_command(small_demo_config, reports, notebooks),
                              env={**os.environ, "CVL_TEST_RUN": token},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        tree = pack_processes(token)
        if any("analysis.report.kernel" in " ".join(p.cmdline()) for p in tree) and \
                len(tree) >= 5:   # report, resource tracker, two workers, a kernel
            break
        assert report.poll() is None, "the report ended before its kernel started"
        time.sleep(0.2)
    else:
        pytest.fail("no kernel started within 300 s")
    os.kill(report.pid, signal.SIGKILL)
    report.wait()
    deadline = time.time() + 10
    while pack_processes(token) and time.time() < deadline:
        time.sleep(0.2)
    left = [(p.pid, " ".join(p.cmdline())[:80]) for p in pack_processes(token)]
    for process in pack_processes(token):   # do not leave them to the next test
        process.kill()
    assert left == [], f"processes of the killed pack still running: {left}"
    assert (reports / PERIOD / "results.json").read_bytes() == old
    assert os.readlink(reports / PERIOD) == old_target
    folder = ReportsFolder(reports)
    with folder.locked():
        assert len(folder.clean()) == 1, "the killed run's folder was not cleared away"


def test_a_cache_folder_that_cannot_be_written_is_named(tmp_path, small_demo_config, capsys,
                                                        monkeypatch):
    folders = [f for f in unwritable_folders(tmp_path) if f.is_relative_to("/sys")]
    if not folders:
        pytest.skip("no read-only file system here")
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(folders[0]))
    # the pack still builds, without a cache, and says which folder and how to fix it
    with pytest.warns(CacheWarning) as warned:
        code = main(["report", "--period", PERIOD, "--config", str(small_demo_config),
                     "--reports-dir", str(tmp_path / "r"), "--jobs", "1"])
    err = capsys.readouterr().err
    messages = " ".join(str(w.message) for w in warned)
    assert code == 0 and str(folders[0]) in messages and "ANALYSIS_CACHE_DIR" in messages
    assert "Traceback" not in err
