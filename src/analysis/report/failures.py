"""What went wrong in a pack: a section that failed or was skipped, where, and what to try.

A notebook that fails does not sink the pack: the runner records a :class:`Failure`
(notebook, cell, message, a hint), the executive summary lists the failures, the failed
section's place in the HTML and PDF shows them (:func:`analysis.report.render.failure_notebook`)
and ``results.json`` keeps them under ``failed_sections``. While the notebooks run, the
runner keeps the failures so far in ``<pack>/failed_sections.json``, which the executive
summary reads (:func:`read_failures`); the file is removed before the pack is published.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from analysis.data.privacy import mask_emails

FAILURES_FILE = "failed_sections.json"
FAILED, SKIPPED = "failed", "skipped"
MESSAGE_LIMIT = 600

OUT_OF_MEMORY = ("Its process stopped, most often because the machine ran out of memory. "
                 "Run the report again with --jobs 1, so that the notebooks run one at a "
                 "time, or on a machine with more memory.")
#: (exception names, pattern in the message or None, what to try), first match wins
HINTS: tuple[tuple[frozenset[str], re.Pattern | None, str], ...] = (
    (frozenset({"DeadKernelError", "MemoryError", "BrokenProcessPool"}), None, OUT_OF_MEMORY),
    (frozenset({"RuntimeError"}), re.compile(r"kernel died", re.I), OUT_OF_MEMORY),
    (frozenset({"CellTimeoutError", "TimeoutError"}), None,
     "A step took longer than allowed. Run the report again; if it fails again, run it "
     "with --jobs 1 when the machine is not busy."),
    (frozenset({"ContractError"}), None,
     "The data do not meet the data contract. Run `analysis validate --config <your "
     "config>`, fix what it lists, and run the report again."),
    (frozenset({"ModuleNotFoundError", "ImportError"}), None,
     "A library is missing or broken. Reinstall the project (`make setup`, or `pip "
     "install -e .`) and run the report again."),
    (frozenset({"FileNotFoundError"}), None,
     "A file the section reads is missing. Check the paths in the config and that the "
     "data folder is complete, then run the report again."),
    (frozenset({"PermissionError"}), None,
     "A file could not be read or written. Check that the reports folder and the cache "
     "folder (ANALYSIS_CACHE_DIR, default data/cache) are writable by this user."),
    (frozenset({"KeyError"}), None,
     "A column or value the section expects is missing from this month's data. Check the "
     "column mapping in the config and run `analysis validate`."),
)
DEFAULT_HINT = ("Most likely this month's data contain a case the section does not handle "
                "yet. The analyst report shows the full error at this section; run the "
                "notebook on its own in JupyterLab for this period to look into it, and send "
                "the message above to whoever maintains the analyses. The other sections of "
                "the pack are complete.")

#: the notebooks whose results answer each claim (docs/CLAIMS.md): a claim no section
#: answered says which of these failed
CLAIM_NOTEBOOKS = {
    "C1": ("02_concentration",), "C2": ("02_concentration",), "C6": ("02_concentration",),
    "C3": ("04_churn_retention",), "C4": ("04_churn_retention",),
    "C5": ("04_churn_retention",),
    "C7": ("03_satisfaction",), "C8": ("03_satisfaction",), "C9": ("03_satisfaction",),
    "C10": ("03_satisfaction", "07_subscriptions"), "C12": ("03_satisfaction",),
    "C11": ("04_churn_retention", "05_customer_lifetime_value", "07_subscriptions"),
}


class ReportError(RuntimeError):
    """A pack could not be built; the message says which step, notebook and cell."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """A section of the pack that failed or was not run."""

    notebook: str                  # "04_churn_retention.ipynb", or "panel" for the panel task
    title: str                     # the section's heading
    status: str                    # FAILED or SKIPPED
    message: str                   # the error message, or why the section was not run
    hint: str                      # what to try
    error: str = ""                # the exception's type name
    cell: int | None = None        # the failing cell's number (In [N] in the analyst report)
    code: str = ""                 # the failing cell's first line of code
    affects: tuple[str, ...] = ()  # sections that need this one's results

    def text(self) -> str:
        """One line: notebook, cell and message (for the command line)."""
        if self.status == SKIPPED:
            return f"{self.notebook}: not run: {self.message}"
        where = f"cell {self.cell} failed with" if self.cell is not None else "failed with"
        kind = f"{self.error}: " if self.error else ""
        return f"{self.notebook}: {where} {kind}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "affects": list(self.affects)}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Failure:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in fields}
        return cls(**{**values, "affects": tuple(values.get("affects", ()))})


def hint_for(error: str, message: str) -> str:
    for names, pattern, hint in HINTS:
        if error in names and (pattern is None or pattern.search(message)):
            return hint
    return DEFAULT_HINT


def short(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """The message without ANSI colours and e-mail addresses (a message may quote the
    data), cut to ``limit`` characters."""
    message = mask_emails(re.sub(r"\x1b\[[0-9;]*m", "", str(message))).strip()
    return message if len(message) <= limit else message[:limit - 1].rstrip() + "…"


def notebook_title(path: Path) -> str:
    """The notebook's first Markdown heading (its file name when it has none)."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            for line in (source if isinstance(source, str) else "".join(source)).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return Path(path).stem


def from_exception(source: Path, error: BaseException) -> Failure:
    """A failed notebook from papermill's error (cell, type, message) or any other error
    (the kernel died, the notebook could not be read, the worker process died)."""
    cell = getattr(error, "exec_count", None)
    if cell is None and getattr(error, "cell_index", None) is not None:
        cell = int(error.cell_index) + 1
    code = next((line for line in str(getattr(error, "source", "") or "").splitlines()
                 if line.strip() and not line.lstrip().startswith("#")), "")
    name = getattr(error, "ename", None) or type(error).__name__
    message = short(getattr(error, "evalue", None) if hasattr(error, "ename") else error)
    return Failure(notebook=source.name, title=notebook_title(source), status=FAILED,
                   message=message, hint=hint_for(name, message), error=name, cell=cell,
                   code=code.strip()[:200])


def skipped(source: Path, missing: Iterable[Failure]) -> Failure:
    """A notebook not run because sections it cannot do without failed or were skipped."""
    missing = list(missing)
    names = ", ".join(f"{m.title} ({m.notebook})" for m in missing)
    return Failure(notebook=source.name, title=notebook_title(source), status=SKIPPED,
                   message=f"it needs {names}, which could not be completed",
                   hint=(f"Fix what is reported for {names}; this section then runs with "
                         "the next report."))


def write_failures(output_dir: Path, failures: Iterable[Failure]) -> Path:
    """Write ``failed_sections.json`` (replaced whole, so a reader never sees half a file)."""
    path = Path(output_dir) / FAILURES_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    records = sorted((f.to_json() for f in failures), key=lambda r: r["notebook"])
    temporary.write_text(json.dumps(records, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_failures(output_dir: str | Path) -> list[dict[str, Any]]:
    """The failures the runner recorded so far (none when a notebook runs on its own)."""
    path = Path(output_dir) / FAILURES_FILE
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def with_failed_sections(scorecard, failures: Iterable[Mapping[str, Any]]):
    """The scorecard with every claim that no section answered because its section failed
    (or was not run) saying so: "section <title> failed" instead of "no analysis
    produced this claim"."""
    from analysis.analyses.claims import NO_ANALYSIS
    from analysis.core.results import Verdict

    by_notebook = {notebook_stem(f.get("notebook", "")): f for f in failures}
    if not by_notebook:
        return scorecard
    rows = []
    for row in scorecard.rows:
        result = row.result
        if result.verdict is Verdict.NOT_TESTABLE and result.reason == NO_ANALYSIS:
            down = [by_notebook[n] for n in CLAIM_NOTEBOOKS.get(row.claim.claim_id, ())
                    if n in by_notebook]
            if down:
                reason = "; ".join(failure_reason(f) for f in down)
                result = dataclasses.replace(
                    result, reason=reason,
                    summary=f"Not tested this month: {reason}. The claim is tested again "
                            "with the next report.")
        rows.append(dataclasses.replace(row, result=result))
    return dataclasses.replace(scorecard, rows=tuple(rows))


def notebook_stem(name: str) -> str:
    return str(name).rsplit("/", 1)[-1].removesuffix(".ipynb")


def failure_reason(failure: Mapping[str, Any]) -> str:
    """"section <title> failed" (or "was not run")."""
    title = failure.get("title") or notebook_stem(failure.get("notebook", "")) or "a section"
    state = "was not run" if failure.get("status") == SKIPPED else "failed"
    return f"section \u201c{title}\u201d {state}"


def clean_message(message: Any) -> str:
    """An error message for the reader: never "None" or "nan" on its own."""
    if message is None or (isinstance(message, float) and message != message):
        return "no message was recorded"
    out = str(message)
    for word, plain in (("None", "no value"), ("NaN", "not a number"), ("nan", "not a number"),
                        ("NaT", "no date")):
        out = re.sub(rf"(?<![\w-]){word}(?![\w-])", plain, out)
    return out or "no message was recorded"
