"""The monthly report pack: run every notebook for a period, merge the results, render.

    analysis report                       # last complete month, demo company
    analysis report --period 2026-10 --config config/acme.toml
    analysis report --from 2026-01 --to 2026-10 | --all

For one period the pack is built in a temporary folder next to ``reports/<period>``:

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
5. only when every step succeeded is the folder moved into place, replacing the old pack.

A failing notebook is reported by name, cell and message; its partial output is kept
in ``reports/_failed/<period>-<time>/`` and the existing pack is left untouched.
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
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from analysis.core.paths import PROJECT_ROOT
from analysis.core.results import SCHEMA_VERSION, read_sections
from analysis.data.periods import PERIOD_PATTERN

NOTEBOOK_NUMBER = re.compile(r"^(\d+)_")
SUMMARY_NUMBER = 90
#: the task that fills the panel cache; notebooks that read ``ctx.panel()`` depend on it
PANEL = "panel"
INTERNAL_FILES = ("exports/churn_risk.parquet", "exports/customer_value.parquet",
                  "exports/purchase_models.parquet")
# starts only where a run of address characters starts: linear time on long base64 images
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"


class ReportError(RuntimeError):
    """A pack could not be built; the message says which step, notebook and cell."""


@dataclasses.dataclass(frozen=True)
class NotebookRun:
    name: str
    seconds: float
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Pack:
    period: str
    folder: Path
    runs: tuple[NotebookRun, ...]
    seconds: float
    files: tuple[str, ...]


# -- inputs -------------------------------------------------------------------------------


def validate_period(label: str) -> str:
    """A period label ``YYYY-MM``; anything else (paths, code) is refused."""
    if not isinstance(label, str) or not PERIOD_PATTERN.match(label):
        raise ReportError(f"period {label!r} is not a month like 2026-10 (YYYY-MM)")
    return label


def inside(root: Path, *parts: str) -> Path:
    """``root/parts`` resolved, refusing anything that escapes ``root``."""
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise ReportError(f"{'/'.join(parts)!r} points outside {root}")
    return path


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The pack's notebooks: ``NN_topic.ipynb`` in number order."""
    found = sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_NUMBER.match(p.name))
    if not found:
        raise ReportError(f"no notebooks named NN_topic.ipynb in {folder}")
    return found


def number(path: Path) -> int:
    return int(NOTEBOOK_NUMBER.match(path.name).group(1))


def dependencies(path: Path) -> set[str]:
    """The notebook's ``metadata.cvl.depends_on`` (read as JSON: importing nbformat takes
    about a second, which the report process spends later, while the notebooks run)."""
    meta = json.loads(Path(path).read_text(encoding="utf-8"))["metadata"].get("cvl", {})
    return set(meta.get("depends_on", []))


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
    """Run one notebook with papermill; the error names the cell and the message."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    logging.getLogger("papermill").setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        with stderr_to(target.with_suffix(".log")):
            pm.execute_notebook(str(source), str(target), parameters=parameters,
                                kernel_name="python3", progress_bar=False,
                                cwd=str(source.parent))
    except PapermillExecutionError as error:
        message = (f"{source.name}: cell {error.exec_count or error.cell_index} failed with "
                   f"{error.ename}: {error.evalue}")
        return NotebookRun(source.stem, time.perf_counter() - started, message)
    except Exception as error:  # kernel died, notebook unreadable, ...
        message = f"{source.name}: {type(error).__name__}: {error}"
        return NotebookRun(source.stem, time.perf_counter() - started, message)
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
        return NotebookRun(PANEL, time.perf_counter() - started,
                           f"building the customer x month panel: {type(error).__name__}: "
                           f"{error}")
    return NotebookRun(PANEL, time.perf_counter() - started)


@contextlib.contextmanager
def own_process():
    """An executor with one spawned process for one task, which exits afterwards: the
    memory the task used goes back to the system (pandas and DuckDB keep freed memory
    for reuse while a process lives)."""
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                     max_tasks_per_child=1) as solo:
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
    imported; kernels started from them use cpu_count // jobs BLAS threads."""
    if jobs <= 1:
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=limit_threads, initargs=(threads,)) as pool:
        for _ in range(jobs):   # a worker is spawned per submit while none is idle
            pool.submit(warm_up)
        yield pool


def run_notebooks(notebooks: Sequence[Path], work: Path, parameters: dict[str, Any], jobs: int,
                  progress: Callable[[str], None],
                  pool: futures.Executor | None = None) -> list[NotebookRun]:
    """Run the tasks (the notebooks, and the ``panel`` task if a notebook needs it), up to
    ``jobs`` at once in ``pool`` (a :func:`worker_pool`, opened here if not given), each as
    soon as its prerequisites have finished; after a failure nothing new starts. Returns
    the runs sorted by name."""
    if jobs > 1 and pool is None:
        with worker_pool(jobs) as pool:
            return run_notebooks(notebooks, work, parameters, jobs, progress, pool)
    (work / "notebooks").mkdir(parents=True, exist_ok=True)
    paths = {p.stem: p for p in notebooks}
    order = run_order(notebooks)
    needs = prerequisites(notebooks)

    def task(name: str) -> tuple[Callable[..., NotebookRun], tuple]:
        if name == PANEL:
            progress("  building the customer x month panel ...")
            return build_panel_cache, (parameters["config"], parameters["period"])
        progress(f"  running {paths[name].name} ...")
        return execute_notebook, (paths[name], work / "notebooks" / paths[name].name,
                                  parameters)

    def report(run: NotebookRun) -> NotebookRun:
        status = "FAILED" if run.error else "ok"
        progress(f"  {run.name:<32} {status:>6} {run.seconds:6.1f} s")
        return run

    runs: list[NotebookRun] = []
    if jobs <= 1:
        for name in order:
            function, args = task(name)
            runs.append(report(function(*args)))
            if runs[-1].error:
                break
        return sorted(runs, key=lambda r: r.name)
    finished, running = set(), {}
    with contextlib.ExitStack() as own_processes:
        while order or running:
            failed = any(r.error for r in runs)
            for name in [n for n in order if needs[n] <= finished]:
                if failed or len(running) >= jobs:
                    break
                order.remove(name)
                function, args = task(name)
                executor = own_processes.enter_context(own_process()) if name == PANEL else pool
                running[executor.submit(function, *args)] = name
            if not running:
                break
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                runs.append(report(future.result()))
                finished.add(runs[-1].name)
    return sorted(runs, key=lambda r: r.name)


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


def merge_results(work: Path, period: str, config_name: str, fingerprint: str | None) -> dict:
    """Every section in one document, with the KPIs, the ledger and the claims scorecard."""
    from analysis.analyses.claims import build_scorecard

    sections = read_sections(work)
    scorecard = build_scorecard(sections, period)
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
    }
    validate_results(payload)
    return payload


# -- rendering ----------------------------------------------------------------------------


def render_pack(work: Path, period: str, config_name: str, runs: Sequence[NotebookRun],
                pdf: bool, progress: Callable[[str], None]) -> dict[str, float]:
    """analyst.html (run order, with code), leadership.html/.pdf (summary first, no code);
    returns the seconds each rendering took. The analyst HTML is rendered in a second
    process while this one renders the leadership HTML and PDF."""
    from analysis.report.render import render_pdf

    executed = [work / "notebooks" / f"{r.name}.ipynb" for r in runs]
    leadership_order = sorted(executed, key=lambda p: (number(p) < SUMMARY_NUMBER, number(p)))
    text = {"title": f"Customer-value report {period}",
            "subtitle": f"Company: {config_name} · period {period}",
            "footer": (f"customer-value lab · generated {dt.date.today():%d %B %Y} · figures "
                       "are associations in this company's data unless a section says "
                       "otherwise")}
    started = time.perf_counter()
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        analyst = pool.submit(render_combined, executed, work / "analyst.html", "analyst", text)
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


def render_combined(notebooks: Sequence[Path], out_path: Path, audience: str,
                    text: dict[str, str]) -> Path:
    """The notebooks as one HTML document for ``audience`` (picklable for a worker)."""
    from analysis.report.render import combine, render_html

    return render_html(combine(notebooks), out_path, audience, **text)


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
    notebook reads; returns the period label, the settings and the data hash (features
    and the panel are built by the notebooks and the ``panel`` task)."""
    from analysis.engine.context import open_period

    ctx = open_period(config, period)
    return ctx.period.label, ctx.settings, ctx.data_hash


def build_pack(period: str | None = None, config: str | Path = "config/demo.toml",
               reports_dir: str | Path = REPORTS_DIR, seed: int | None = None, jobs: int = 2,
               pdf: bool = True, notebooks_dir: str | Path = NOTEBOOK_DIR,
               progress: Callable[[str], None] = print) -> Pack:
    """Build ``reports/<period>/`` atomically; raise :class:`ReportError` on any failure."""
    started = time.perf_counter()
    if period is not None:
        validate_period(period)
    with contextlib.ExitStack() as workers:
        pool = workers.enter_context(worker_pool(jobs))  # they start while the data load
        if pool is None:
            period, settings, data_hash = prepare(config, period)
        else:   # in a process of its own: validation leaves freed memory behind
            with own_process() as solo:
                period, settings, data_hash = solo.submit(prepare, config, period).result()
        progress(f"Report pack {period} ({settings.name})")
        reports_dir = Path(reports_dir).resolve()
        target = inside(reports_dir, period)
        seed = settings.seed if seed is None else int(seed)
        stages = {"prepare": round(time.perf_counter() - started, 1)}
        notebooks = list_notebooks(Path(notebooks_dir))
        work = inside(reports_dir, f".tmp-{period}-{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        parameters = {"period": period, "config": str(settings.path),
                      "output_dir": str(work), "seed": seed}
        try:
            notebooks_started = time.perf_counter()
            preload("analysis.report.render")
            runs = run_notebooks(notebooks, work, parameters, jobs, progress, pool)
            workers.close()   # the workers exit before rendering
            stages["notebooks"] = round(time.perf_counter() - notebooks_started, 1)
            for run in runs:
                if run.name == PANEL:
                    stages[PANEL] = round(run.seconds, 1)
            failed = [r for r in runs if r.error]
            if failed:
                raise ReportError("; ".join(r.error for r in failed))
            runs = [r for r in runs if r.name != PANEL]
            payload = merge_results(work, period, settings.name, data_hash)
            (work / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True,
                                                          allow_nan=False))
            stages.update(render_pack(work, period, settings.name, runs, pdf, progress))
            for name in INTERNAL_FILES:
                (work / name).unlink(missing_ok=True)
            write_run_info(work, runs, parameters, time.perf_counter() - started, stages)
        except BaseException as error:
            workers.close()   # running tasks finish before their folder moves
            kept = keep_failed(work, reports_dir, period)
            if isinstance(error, ReportError):
                raise ReportError(f"{error}\n  partial output kept in {kept}; the previous "
                                  f"pack in {target} is untouched") from None
            raise
    install(work, target)
    from analysis.report.index import build_index

    build_index(reports_dir)
    files = tuple(sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()))
    return Pack(period, target, tuple(runs), time.perf_counter() - started, files)


def write_run_info(work: Path, runs: Sequence[NotebookRun], parameters: dict, seconds: float,
                   stages: dict[str, float] | None = None):
    """Timestamps and timings live here, so results.json stays identical across reruns."""
    info = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "stages": stages or {},
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},
        "notebooks": [{"name": r.name, "seconds": round(r.seconds, 1)} for r in runs],
        "python": platform.python_version(),
    }
    (work / "run_info.json").write_text(json.dumps(info, indent=2))


def keep_failed(work: Path, reports_dir: Path, period: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = inside(reports_dir, "_failed", f"{period}-{stamp}")
    kept.parent.mkdir(parents=True, exist_ok=True)
    if work.exists():
        os.replace(work, kept)
    return kept


def install(work: Path, target: Path) -> None:
    """Move the finished pack into place; the old pack is removed only afterwards."""
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(work, target)
    shutil.rmtree(old, ignore_errors=True)


# -- command line -------------------------------------------------------------------------


def register_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="execute the notebooks for a period and render the report pack",
        description=(
            "Execute every notebook in notebooks/ for a period with papermill and write "
            "reports/<period>/: executed notebooks, analyst.html (with code), leadership.html "
            "and leadership.pdf (no code), results.json, the data-quality ledger and the "
            "exports; then refresh reports/index.html. The previous pack is replaced only "
            "when every step succeeded."),
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--period", help="month YYYY-MM (default: last complete month)")
    which.add_argument("--all", action="store_true", help="every complete month in the data")
    which.add_argument("--from", dest="start", metavar="YYYY-MM",
                       help="first month of a range (with --to)")
    p.add_argument("--to", dest="stop", metavar="YYYY-MM", help="last month of a range")
    p.add_argument("--config", default="config/demo.toml", help="company config (TOML/YAML)")
    p.add_argument("--reports-dir", default=str(REPORTS_DIR), help="where packs are written")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run concurrently (default 2)")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF (faster drafts)")
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


def run_cli(args) -> int:
    started = time.perf_counter()
    try:
        periods = requested_periods(args)
        packs = []
        for label in periods:
            pack = build_pack(label, args.config, args.reports_dir, args.seed, args.jobs,
                              not args.no_pdf)
            packs.append(pack)
            print(f"  -> {pack.folder} ({pack.seconds:.1f} s)")
    except (ReportError, FileNotFoundError, ValueError) as error:
        print(f"report failed: {error}", file=sys.stderr)
        return 1
    print(f"\n{len(packs)} pack(s) in {time.perf_counter() - started:.1f} s")
    for pack in packs:
        for name in ("leadership.pdf", "leadership.html", "analyst.html", "results.json"):
            if (pack.folder / name).exists():
                print(f"  {pack.folder / name}")
    print(f"  index: {Path(args.reports_dir).resolve() / 'index.html'}")
    return 0
