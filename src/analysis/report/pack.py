"""The monthly report pack: run every notebook for a period, merge the results, render.

    analysis report                       # last complete month, demo company
    analysis report --period 2026-10 --config config/acme.toml
    analysis report --from 2026-01 --to 2026-10 | --all

For one period the pack is built in a folder of its own in the reports folder
(:mod:`analysis.report.install`):

1. the context is opened once (validates the config and period and caches the validated
   data that every notebook then reads);
2. every notebook in ``notebooks/`` is executed with papermill (parameters ``period``,
   ``config``, ``output_dir``, ``seed`` injected into the cell tagged ``parameters``);
   up to ``--jobs`` notebooks run at once, each as soon as what its
   ``metadata.cvl.depends_on`` lists has finished: other notebooks, or ``panel`` (the
   customer x month panel, built as a task of its own next to the notebooks that do not
   need it); summary notebooks (number >= 90) run last;
3. the sections each notebook wrote are merged into ``results.json`` and validated
   against ``results_schema.json``;
4. ``analyst.html`` (with code), ``leadership.html`` and ``leadership.pdf`` (no code) are
   rendered offline with the project template;
5. the finished folder replaces ``reports/<period>`` in one atomic step, and
   ``reports/index.html`` is rebuilt.

A failing notebook does not sink the pack: the other notebooks still run, the failed
section's place in the HTML and PDF says what failed, where, the message and what to
try, the executive summary lists it, ``results.json`` records it (``failed_sections``),
and the command exits non-zero. A notebook that lists a failed one in ``depends_on``
still runs (it reads the other's hand-offs only when they exist), except where it cannot
do without it: the ``panel`` task, and what ``metadata.cvl.requires`` lists; then it is
marked as not run, with the reason. With ``strict=True`` (``--strict``) the first
failure stops the pack instead: its partial output is kept in
``reports/_failed/<period>-<time>/`` and the existing pack is left untouched.

Every process of a pack dies with the report process (:mod:`analysis.report.processes`).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import datetime as dt
import importlib
import json
import logging
import multiprocessing
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from analysis.core.paths import PROJECT_ROOT
from analysis.core.results import SCHEMA_VERSION, read_sections
from analysis.data.periods import PERIOD_PATTERN
from analysis.data.privacy import EMAIL
from analysis.report import failures as failing
from analysis.report.failures import FAILED, SKIPPED, Failure, ReportError
from analysis.report.install import Build, ReportsFolder
from analysis.report.processes import child_initializer, pack_kernels

__all__ = ["Pack", "NotebookRun", "ReportError", "build_pack"]

NOTEBOOK_NUMBER = re.compile(r"^(\d+)_")
SUMMARY_NUMBER = 90
#: the task that fills the panel cache; notebooks that read ``ctx.panel()`` depend on it
PANEL = "panel"
PANEL_TITLE = "the customer x month panel"
INTERNAL_FILES = ("exports/churn_risk.parquet", "exports/customer_value.parquet",
                  "exports/purchase_models.parquet", failing.FAILURES_FILE)
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"
#: exit codes of ``analysis report``
EXIT_OK, EXIT_SECTIONS_FAILED, EXIT_NO_PACK = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class NotebookRun:
    """One task of a pack (a notebook, or the ``panel`` task): how long, and what failed."""

    name: str
    seconds: float
    failure: Failure | None = None

    @property
    def error(self) -> str | None:
        """The failure in one line (notebook, cell, message), None when it ran."""
        return None if self.failure is None else self.failure.text()

    @property
    def status(self) -> str:
        return "ok" if self.failure is None else self.failure.status


@dataclasses.dataclass(frozen=True)
class Pack:
    period: str
    folder: Path
    runs: tuple[NotebookRun, ...]
    seconds: float
    files: tuple[str, ...]
    failures: tuple[Failure, ...] = ()

    @property
    def complete(self) -> bool:
        """Every section ran (no failed or skipped section)."""
        return not self.failures


# -- inputs -------------------------------------------------------------------------------


def validate_period(label: str) -> str:
    """A period label ``YYYY-MM``; anything else (paths, code) is refused."""
    if not isinstance(label, str) or not PERIOD_PATTERN.match(label):
        raise ReportError(f"period {label!r} is not a month like 2026-10 (YYYY-MM)")
    return label


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The pack's notebooks: ``NN_topic.ipynb`` in number order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"the notebooks folder {folder} does not exist; run the report from "
                          "a checkout of the project (its notebooks/ folder), or name the "
                          "folder with --notebooks-dir")
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NUMBER.match(p.name))
    if not found:
        raise ReportError(f"no notebooks named NN_topic.ipynb in {folder}; name the folder "
                          "that holds the pack's notebooks with --notebooks-dir")
    return found


def number(path: Path) -> int:
    return int(NOTEBOOK_NUMBER.match(path.name).group(1))


def cvl_metadata(path: Path) -> dict[str, Any]:
    """The notebook's ``metadata.cvl`` (read as JSON: importing nbformat takes about a
    second, which the report process spends later, while the notebooks run)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["metadata"].get("cvl", {})


def dependencies(path: Path) -> set[str]:
    """What the notebook waits for: its ``depends_on`` and its ``requires``."""
    meta = cvl_metadata(path)
    return set(meta.get("depends_on", [])) | set(meta.get("requires", []))


def requirements(path: Path) -> set[str]:
    """What the notebook cannot run without: the ``panel`` task if it depends on it, and
    what ``metadata.cvl.requires`` lists. Other notebooks in ``depends_on`` are read only
    when they ran (hand-offs), so the notebook still runs when one of them failed."""
    meta = cvl_metadata(path)
    return (set(meta.get("depends_on", [])) & {PANEL}) | set(meta.get("requires", []))


def prerequisites(notebooks: Sequence[Path]) -> dict[str, set[str]]:
    """What each task waits for: a notebook its declared ``depends_on`` (notebooks, or the
    ``panel`` task), a summary notebook (number >= 90) also every notebook with a lower
    number. The ``panel`` task is listed (waiting for nothing) when a notebook needs it."""
    names = {p.stem for p in notebooks} | {PANEL}
    needs = {}
    for p in notebooks:
        needs[p.stem] = dependencies(p) & names - {p.stem}
        if number(p) >= SUMMARY_NUMBER:
            needs[p.stem] |= {q.stem for q in notebooks if number(q) < number(p)}
    if any(PANEL in n for n in needs.values()):
        needs[PANEL] = set()
    return needs


def run_order(notebooks: Sequence[Path]) -> list[str]:
    """Task names in a start order that respects the prerequisites and starts tasks that
    others wait for first (so a dependent can start while independent notebooks still
    run); ties go by notebook number."""
    needs = prerequisites(notebooks)
    numbers = {p.stem: number(p) for p in notebooks} | {PANEL: -1}
    waiting = {name: sum(name in n for n in needs.values()) for name in needs}
    pending = set(needs)
    done: set[str] = set()
    order = []
    while pending:
        ready = [n for n in pending if needs[n] <= done]
        if not ready:
            raise ReportError(f"notebook dependencies form a cycle: {sorted(pending)}")
        name = min(ready, key=lambda n: (-waiting[n], numbers[n], n))
        order.append(name)
        pending.remove(name)
        done.add(name)
    return order


# -- execution ----------------------------------------------------------------------------


def execute_notebook(source: Path, target: Path, parameters: dict[str, Any]) -> NotebookRun:
    """Run one notebook with papermill; a failure names the cell and the message."""
    import papermill as pm

    logging.getLogger("papermill").setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        with stderr_to(target.with_suffix(".log")):
            pm.execute_notebook(str(source), str(target), parameters=parameters,
                                kernel_name="python3", progress_bar=False,
                                cwd=str(source.parent))
    except Exception as error:  # a cell failed, the kernel died, the notebook is unreadable
        return NotebookRun(source.stem, time.perf_counter() - started,
                           failing.from_exception(source, error))
    return NotebookRun(source.stem, time.perf_counter() - started)


@contextlib.contextmanager
def stderr_to(path: Path):
    """Send this process's and the kernel's stderr (warnings, kernel logs) to a log file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


#: thread pools of the numeric libraries a kernel may start
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Kernels started from this process use at most ``threads`` BLAS/OpenMP threads, so
    notebooks running side by side do not oversubscribe the cores (OpenBLAS threads spin
    while they wait: at 1M lines two kernels with a full pool each made the CLV notebook
    1.5x slower). A limit set by the user is kept."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def build_panel_cache(config: str, period: str) -> NotebookRun:
    """The ``panel`` task: fill the panel cache the notebooks read. With ``--jobs`` > 1 it
    runs in a process of its own that exits when done: the report process never holds
    the data while kernels run, and no process keeps the memory the build used."""
    from analysis.engine.context import open_period

    started = time.perf_counter()
    try:
        open_period(config, period).panel()
    except Exception as error:
        message = failing.short(error)
        name = type(error).__name__
        return NotebookRun(PANEL, time.perf_counter() - started, Failure(
            notebook=PANEL, title=PANEL_TITLE, status=FAILED, error=name,
            message=f"building the customer x month panel: {message}",
            hint=failing.hint_for(name, message)))
    return NotebookRun(PANEL, time.perf_counter() - started)


@contextlib.contextmanager
def own_process():
    """An executor with one spawned process for one task, which exits afterwards: the
    memory the task used goes back to the system (pandas and DuckDB keep freed memory
    for reuse while a process lives). The process dies with this one."""
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                     max_tasks_per_child=1, initializer=child_initializer,
                                     initargs=(os.getpid(),)) as solo:
        yield solo


def preload(module: str) -> None:
    """Import ``module`` in a background thread, so this process imports what it renders
    with (nbconvert, weasyprint: about 1.5 s) while it waits for the notebooks."""
    threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()


def warm_up() -> None:
    """Import what a worker needs before it is given work (runs while the data load)."""
    import papermill  # noqa: F401


@contextlib.contextmanager
def worker_pool(jobs: int):
    """``jobs`` spawned worker processes (None for ``jobs`` <= 1) with papermill already
    imported; kernels started from them use cpu_count // jobs BLAS threads. The workers
    die with this process, and their kernels with them."""
    if jobs <= 1:
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=child_initializer,
                                     initargs=(os.getpid(), limit_threads, threads)) as pool:
        for _ in range(jobs):   # a worker is spawned per submit while none is idle
            pool.submit(warm_up)
        yield pool


class InlineExecutor(futures.Executor):
    """Runs each task at once in this process (``--jobs 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        future: futures.Future = futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


def run_notebooks(notebooks: Sequence[Path], work: Path, parameters: dict[str, Any], jobs: int,
                  progress: Callable[[str], None], pool: futures.Executor | None = None,
                  strict: bool = False,
                  shown_as: Mapping[str, str] | None = None) -> list[NotebookRun]:
    """Run the tasks (the notebooks, and the ``panel`` task if a notebook needs it), up to
    ``jobs`` at once in ``pool`` (a :func:`worker_pool`, opened here if not given), each as
    soon as its prerequisites have finished. A task whose requirement failed is not run
    (a skipped run says why); the others run. With ``strict`` nothing new starts after a
    failure. The failures so far are kept in ``work/failed_sections.json`` for the
    summary notebook; ``shown_as`` replaces paths in their messages (the build folder by
    the pack's). Returns the runs sorted by name."""
    if jobs > 1 and pool is None:
        with worker_pool(jobs) as pool:
            return run_notebooks(notebooks, work, parameters, jobs, progress, pool, strict,
                                 shown_as)
    (work / "notebooks").mkdir(parents=True, exist_ok=True)
    paths = {p.stem: p for p in notebooks}
    order = run_order(notebooks)
    needs = prerequisites(notebooks)
    required = {p.stem: requirements(p) for p in notebooks} | {PANEL: set()}
    declared = {p.stem: dependencies(p) for p in notebooks}
    inline = InlineExecutor()
    finished: dict[str, NotebookRun] = {}

    def start(name: str, executor: futures.Executor) -> futures.Future:
        if name == PANEL:
            progress("  building the customer x month panel ...")
            return executor.submit(build_panel_cache, parameters["config"],
                                   parameters["period"])
        progress(f"  running {paths[name].name} ...")
        return executor.submit(execute_notebook, paths[name],
                               work / "notebooks" / paths[name].name, parameters)

    def record(name: str, run: NotebookRun) -> None:
        if run.failure is not None:
            affects = tuple(f"{n}.ipynb" for n in sorted(declared) if name in declared[n])
            failure = dataclasses.replace(run.failure, affects=affects,
                                          message=replace_all(run.failure.message, shown_as))
            run = dataclasses.replace(run, failure=failure)
        finished[name] = run
        status = {"ok": "ok", FAILED: "FAILED", SKIPPED: "not run"}[run.status]
        progress(f"  {run.name:<32} {status:>7} {run.seconds:6.1f} s")
        if run.failure is not None:
            progress(f"    {run.error}")
            failing.write_failures(work, [r.failure for r in finished.values() if r.failure])

    running: dict[futures.Future, str] = {}
    with contextlib.ExitStack() as own_processes:
        while True:
            stop = strict and any(r.failure for r in finished.values())
            started = False
            for name in [n for n in order if needs[n] <= finished.keys()]:
                if stop or len(running) >= jobs:
                    break
                order.remove(name)
                started = True
                missing = [finished[r].failure for r in sorted(required[name])
                           if r in finished and finished[r].failure]
                if missing:
                    record(name, NotebookRun(name, 0.0, failing.skipped(paths[name], missing)))
                    continue
                if pool is None:
                    executor = inline
                elif name == PANEL:
                    executor = own_processes.enter_context(own_process())
                else:
                    executor = pool
                try:
                    running[start(name, executor)] = name
                except Exception as error:   # the pool is broken: a worker died
                    record(name, failed_run(name, paths.get(name), error))
            if not running:
                if started and not stop:
                    continue   # tasks were skipped: others may be ready now
                break
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                record(name, outcome(future, name, paths.get(name)))
    return sorted(finished.values(), key=lambda r: r.name)


def outcome(future: futures.Future, name: str, source: Path | None) -> NotebookRun:
    """The run a task returned; a failed run when its process died (out of memory, ...)."""
    try:
        return future.result()
    except Exception as error:
        return failed_run(name, source, error)


def failed_run(name: str, source: Path | None, error: Exception) -> NotebookRun:
    """A task that could not run or whose process died; ``source`` None: the panel task."""
    if source is not None:
        return NotebookRun(name, 0.0, failing.from_exception(source, error))
    message = failing.short(f"the process building it stopped: {error}")
    return NotebookRun(name, 0.0, Failure(
        notebook=PANEL, title=PANEL_TITLE, status=FAILED, error=type(error).__name__,
        message=message, hint=failing.hint_for(type(error).__name__, message)))


def replace_all(text: str, replacements: Mapping[str, str] | None) -> str:
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    return text


# -- results ------------------------------------------------------------------------------


def load_schema() -> dict:
    return json.loads(resources.files("analysis.core").joinpath("results_schema.json").read_text())


def validate_results(payload: dict) -> None:
    import jsonschema

    try:
        jsonschema.validate(payload, load_schema())
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ReportError(f"results.json does not match its schema at {where}: "
                          f"{error.message}") from error


def merge_results(work: Path, period: str, config_name: str, fingerprint: str | None,
                  failures: Iterable[Failure] = ()) -> dict:
    """Every section in one document, with the KPIs, the ledger, the claims scorecard and
    the sections that failed or were not run."""
    from analysis.analyses.claims import build_scorecard

    sections = read_sections(work)
    failures = tuple(failures)
    scorecard = failing.with_failed_sections(build_scorecard(sections, period),
                                             [f.to_json() for f in failures])
    summary_extra = sections.get("executive_summary", {}).get("extra", {})
    quality_extra = sections.get("data_quality", {}).get("extra", {})
    payload = {
        "schema_version": SCHEMA_VERSION,
        "period": period,
        "config": config_name,
        "data_fingerprint": fingerprint,
        "ledger": quality_extra.get("ledger"),
        "kpis": summary_extra.get("kpis"),
        "claims": scorecard.to_records(),
        "claim_counts": scorecard.counts(),
        "sections": sections,
        "failed_sections": sorted((f.to_json() for f in failures),
                                  key=lambda r: r["notebook"]),
    }
    validate_results(payload)
    return payload


# -- rendering ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Section:
    """One notebook's place in the HTML: the executed notebook, or the failure block."""

    source: Path
    executed: Path
    failure: dict | None = None


def render_pack(work: Path, period: str, config_name: str, sections: Sequence[Section],
                pdf: bool, progress: Callable[[str], None]) -> dict[str, float]:
    """analyst.html (run order, with code), leadership.html/.pdf (summary first, no code);
    returns the seconds each rendering took. The analyst HTML is rendered in a second
    process while this one renders the leadership HTML and PDF."""
    from analysis.report.render import render_pdf

    leadership_order = sorted(sections, key=lambda s: (number(s.source) < SUMMARY_NUMBER,
                                                       number(s.source)))
    text = {"title": f"Customer-value report {period}",
            "subtitle": f"Company: {config_name} · period {period}",
            "footer": (f"customer-value lab · generated {dt.date.today():%d %B %Y} · figures "
                       "are associations in this company's data unless a section says "
                       "otherwise")}
    started = time.perf_counter()
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=child_initializer,
                                     initargs=(os.getpid(),)) as pool:
        analyst = pool.submit(render_combined, sections, work / "analyst.html", "analyst", text)
        leadership = render_combined(leadership_order, work / "leadership.html", "leadership",
                                     text)
        check_leadership(leadership)
        seconds = {"render_html": round(time.perf_counter() - started, 1)}
        progress(f"  rendered leadership HTML {seconds['render_html']:5.1f} s")
        if pdf:
            pdf_started = time.perf_counter()
            render_pdf(leadership, work / "leadership.pdf")
            seconds["render_pdf"] = round(time.perf_counter() - pdf_started, 1)
            progress(f"  rendered PDF {seconds['render_pdf']:18.1f} s")
        analyst.result()
    seconds["render"] = round(time.perf_counter() - started, 1)
    return seconds


def render_combined(sections: Sequence[Section], out_path: Path, audience: str,
                    text: dict[str, str]) -> Path:
    """The sections as one HTML document for ``audience`` (picklable for a worker)."""
    from analysis.report.render import combine, failure_notebook, render_html

    parts = [s.executed if s.failure is None
             else failure_notebook(s.failure, s.source, s.executed, audience)
             for s in sections]
    return render_html(combine(parts), out_path, audience, **text)


def check_leadership(path: Path) -> None:
    """Leadership outputs never show e-mail addresses (a sign of leaked PII)."""
    text = path.read_text(encoding="utf-8")
    found = [m.group(0) for m in EMAIL.finditer(text)
             if not m.group(0).endswith((".png", ".svg", ".css"))]
    if found:
        raise ReportError(f"{path.name} shows e-mail addresses (e.g. {found[0]!r}); leadership "
                          "outputs must not contain PII: drop name/email columns before display")


# -- the pack -----------------------------------------------------------------------------


def prepare(config: str | Path, period: str | None):
    """Validate the config, the period and the data, and cache the validated data every
    notebook reads; make sure the company has a pseudonym key. Returns the period label,
    the settings, the data hash and the key (features and the panel are built by the
    notebooks and the ``panel`` task)."""
    from analysis.data.privacy import ensure_key
    from analysis.engine.context import open_period

    ctx = open_period(config, period)
    return ctx.period.label, ctx.settings, ctx.data_hash, ensure_key(ctx.settings)


def build_pack(period: str | None = None, config: str | Path = "config/demo.toml",
               reports_dir: str | Path = REPORTS_DIR, seed: int | None = None, jobs: int = 2,
               pdf: bool = True, notebooks_dir: str | Path = NOTEBOOK_DIR,
               progress: Callable[[str], None] = print, strict: bool = False) -> Pack:
    """Build ``reports/<period>/`` and install it atomically. A failing notebook is
    recorded in the pack (:attr:`Pack.failures`); with ``strict`` it raises
    :class:`ReportError` instead and the previous pack stays. Input that stops every
    section (the config, the data contract, the reports folder) raises."""
    started = time.perf_counter()
    if period is not None:
        validate_period(period)
    notebooks = list_notebooks(Path(notebooks_dir))
    reports = ReportsFolder(reports_dir)
    with contextlib.ExitStack() as workers:
        workers.enter_context(pack_kernels())
        pool = workers.enter_context(worker_pool(jobs))  # they start while the data load
        if pool is None:
            period, settings, data_hash, key = prepare(config, period)
        else:   # in a process of its own: validation leaves freed memory behind
            with own_process() as solo:
                period, settings, data_hash, key = solo.submit(prepare, config, period).result()
        progress(f"Report pack {period} ({settings.name})")
        if key.created:
            progress(new_key_message(settings.name, key.path))
        target = reports.root / period
        seed = settings.seed if seed is None else int(seed)
        stages = {"prepare": round(time.perf_counter() - started, 1)}
        build = reports.start(period)
        work = build.folder
        parameters = {"period": period, "config": str(settings.path),
                      "output_dir": str(work), "seed": seed}
        try:
            runs, failures = execute_pack(build, notebooks, parameters, jobs, pool, strict,
                                          stages, progress, workers.close)
            stages.update(finish_pack(work, period, settings.name, data_hash, runs, failures,
                                      notebooks, pdf, progress))
            write_run_info(work, runs, parameters, time.perf_counter() - started, stages)
        except BaseException as error:
            workers.close()   # running tasks finish before their folder moves
            kept = reports.discard(build)
            if isinstance(error, ReportError):
                raise ReportError(f"{error}\n  partial output kept in {kept}; the previous "
                                  f"pack in {target} is untouched") from None
            raise
    from analysis.report.index import build_index

    files = tuple(sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file()))
    reports.install(build, after=lambda: build_index(reports.root))
    return Pack(period, target, tuple(runs), time.perf_counter() - started, files, failures)


def execute_pack(build: Build, notebooks: Sequence[Path], parameters: dict[str, Any],
                 jobs: int, pool: futures.Executor | None, strict: bool,
                 stages: dict[str, float], progress: Callable[[str], None],
                 close_workers: Callable[[], None]
                 ) -> tuple[list[NotebookRun], tuple[Failure, ...]]:
    """Run the notebooks into ``build`` (the workers exit afterwards, before rendering);
    returns the notebook runs and every failure (the panel's too). With ``strict`` a
    failure raises."""
    started = time.perf_counter()
    preload("analysis.report.render")
    shown_as = {str(build.folder): str(build.folder.parent.parent / build.period)}
    runs = run_notebooks(notebooks, build.folder, parameters, jobs, progress, pool, strict,
                         shown_as)
    close_workers()
    stages["notebooks"] = round(time.perf_counter() - started, 1)
    for run in runs:
        if run.name == PANEL:
            stages[PANEL] = round(run.seconds, 1)
    failures = tuple(r.failure for r in runs if r.failure)
    if strict and failures:
        raise ReportError("; ".join(f.text() for f in failures))
    return [r for r in runs if r.name != PANEL], failures


def finish_pack(work: Path, period: str, config_name: str, data_hash: str | None,
                runs: Sequence[NotebookRun], failures: Sequence[Failure],
                notebooks: Sequence[Path], pdf: bool,
                progress: Callable[[str], None]) -> dict[str, float]:
    """results.json, the HTML and PDF (failed sections in their place), without the
    internal files; returns the rendering stages' seconds."""
    payload = merge_results(work, period, config_name, data_hash, failures)
    (work / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True,
                                                  allow_nan=False))
    sources = {p.stem: p for p in notebooks}
    sections = [Section(sources[r.name], work / "notebooks" / f"{r.name}.ipynb",
                        None if r.failure is None else r.failure.to_json()) for r in runs]
    seconds = render_pack(work, period, config_name, sections, pdf, progress)
    for name in INTERNAL_FILES:
        (work / name).unlink(missing_ok=True)
    return seconds


def new_key_message(company: str, path: Path | None) -> str:
    return (f"  Created the pseudonym key for {company}: {path} (readable by you only).\n"
            "  The pseudonyms in the exports depend on it: to get the same pseudonyms on "
            "another machine, copy this file to the same place there (or set "
            "ANALYSIS_PSEUDONYM_SALT to its content). Keep it out of git and out of the "
            "pack; whoever has it can recompute pseudonyms.")


def write_run_info(work: Path, runs: Sequence[NotebookRun], parameters: dict, seconds: float,
                   stages: dict[str, float] | None = None):
    """Timestamps and timings live here, so results.json stays identical across reruns."""
    info = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "stages": stages or {},
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},
        "notebooks": [{"name": r.name, "seconds": round(r.seconds, 1), "status": r.status}
                      for r in runs],
        "python": platform.python_version(),
    }
    (work / "run_info.json").write_text(json.dumps(info, indent=2))


# -- command line -------------------------------------------------------------------------


def register_cli(subparsers) -> None:
    import argparse

    p = subparsers.add_parser(
        "report",
        help="execute the notebooks for a period and render the report pack",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Execute every notebook in notebooks/ for a period with papermill and write "
            "reports/<period>/: executed notebooks, analyst.html (with code), leadership.html "
            "and leadership.pdf (no code), results.json, the data-quality ledger and the "
            "exports; then refresh reports/index.html. A notebook that fails does not stop "
            "the pack: its place in the pack says what failed and what to try."),
        epilog=(
            "exit status:\n"
            "  0  every pack was built with every section\n"
            "  1  every pack was built, but some sections failed or were not run\n"
            "  2  a pack could not be built (config, data contract, reports folder, or a\n"
            "     failure with --strict); with --all the other months are still built"),
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--period", help="month YYYY-MM (default: last complete month)")
    which.add_argument("--all", action="store_true", help="every complete month in the data")
    which.add_argument("--from", dest="start", metavar="YYYY-MM",
                       help="first month of a range (with --to)")
    p.add_argument("--to", dest="stop", metavar="YYYY-MM", help="last month of a range")
    p.add_argument("--config", default="config/demo.toml", help="company config (TOML/YAML)")
    p.add_argument("--reports-dir", default=str(REPORTS_DIR), help="where packs are written")
    p.add_argument("--notebooks-dir", default=str(NOTEBOOK_DIR),
                   help="the pack's notebooks (default: the project's notebooks/)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run concurrently (default 2)")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF (faster drafts)")
    p.add_argument("--strict", action="store_true",
                   help="all or nothing: the first failing notebook stops the pack, the "
                        "previous pack stays, and --all stops at that month")
    p.set_defaults(handler=run_cli)


def requested_periods(args) -> list[str | None]:
    if args.all or args.start:
        from analysis.engine.context import available_periods

        labels = [p.label for p in available_periods(args.config)]
        if args.start:
            for label in (args.start, args.stop):
                if label is None:
                    raise ReportError("--from needs --to (both YYYY-MM)")
                validate_period(label)
            labels = [x for x in labels if args.start <= x <= args.stop]
        if not labels:
            raise ReportError("no complete month in the data matches the request")
        return labels
    if args.stop:
        raise ReportError("--to needs --from")
    return [args.period]


#: errors of input (config, data, folders) that a message explains; others are bugs
EXPLAINED = (ReportError, OSError, ValueError)


def describe(error: BaseException) -> str:
    """A message for the command line: what and where, and the fix for a folder problem."""
    if isinstance(error, PermissionError):
        return (f"permission denied: {error.filename or error}. Make it writable (and "
                "readable) for this user, or use another folder: --reports-dir for the "
                "packs, the environment variable ANALYSIS_CACHE_DIR for the data cache")
    if isinstance(error, OSError) and error.filename and str(error.filename) not in str(error):
        return f"{error.strerror or error}: {error.filename}"
    return str(error)


def run_cli(args) -> int:
    started = time.perf_counter()
    try:
        periods = requested_periods(args)
    except EXPLAINED as error:
        print(f"report failed: {describe(error)}", file=sys.stderr)
        return EXIT_NO_PACK
    packs: list[Pack] = []
    not_built: dict[str, str] = {}
    for label in periods:
        try:
            pack = build_pack(label, args.config, args.reports_dir, args.seed, args.jobs,
                              not args.no_pdf, args.notebooks_dir, strict=args.strict)
        except Exception as error:
            if not isinstance(error, EXPLAINED):
                import traceback

                traceback.print_exc()   # a bug, not an input problem: keep its traceback
            not_built[label or "latest"] = describe(error)
            print(f"report failed{f' for {label}' if label else ''}: {describe(error)}",
                  file=sys.stderr)
            if args.strict:
                break
            continue
        packs.append(pack)
        state = "" if pack.complete else f", {len(pack.failures)} section(s) failed"
        print(f"  -> {pack.folder} ({pack.seconds:.1f} s{state})")
    print_summary(packs, not_built, time.perf_counter() - started, Path(args.reports_dir))
    if not_built:
        return EXIT_NO_PACK
    return EXIT_OK if all(p.complete for p in packs) else EXIT_SECTIONS_FAILED


def print_summary(packs: Sequence[Pack], not_built: Mapping[str, str], seconds: float,
                  reports_dir: Path) -> None:
    print(f"\n{len(packs)} pack(s) in {seconds:.1f} s")
    for pack in packs:
        for name in ("leadership.pdf", "leadership.html", "analyst.html", "results.json"):
            if (pack.folder / name).exists():
                print(f"  {pack.folder / name}")
    if packs:
        print(f"  index: {reports_dir.resolve() / 'index.html'}")
    incomplete = [p for p in packs if not p.complete]
    several = len(packs) + len(not_built) > 1
    if incomplete or (several and not_built):
        print("\nNot complete (the packs were installed with these sections marked):"
              if incomplete else "\nNot complete:", file=sys.stderr)
        for pack in incomplete:
            for failure in pack.failures:
                print(f"  {pack.period}  {failure.text()}", file=sys.stderr)
        for label, message in not_built.items() if several else ():
            print(f"  {label}  no pack: {message}", file=sys.stderr)
