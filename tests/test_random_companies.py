"""Every notebook's code on small random companies (issue 17, item 5a).

The code cells of each notebook run as they are, on a company from
:mod:`tests.random_companies` (``open_period`` hands them the company's context; ``display``
collects what a reader would see; figures are read back for their text). For every example:
no exception, every claim and headline in ``results/*.json`` is a finite number or carries
a stated reason, and every piece of reader text (Markdown, rendered tables, chart titles,
labels and legends) passes :func:`analysis.core.text.reader_text_problems`.
"""

from __future__ import annotations

import ast
import json
import math
import os
import traceback
from pathlib import Path

import matplotlib
import pytest
from hypothesis import HealthCheck, Phase, given, settings

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from analysis.core.paths import PROJECT_ROOT  # noqa: E402
from analysis.core.text import reader_text_problems  # noqa: E402
from random_companies import RandomCompany, Shape, build, companies  # noqa: E402

NOTEBOOKS = PROJECT_ROOT / "notebooks"
#: the order of a pack (05 hands its purchase models to 04; 06 reads both; 90 reads all)
OWNED = ("04_churn_retention", "05_customer_lifetime_value", "06_segments", "07_subscriptions")
OTHERS = ("01_data_quality", "02_concentration", "03_satisfaction", "90_executive_summary")
ORDER = ("01_data_quality", "02_concentration", "03_satisfaction",
         "05_customer_lifetime_value", "04_churn_retention", "06_segments", "07_subscriptions",
         "90_executive_summary")
#: small parameters, as papermill would inject them, so 200 companies run in minutes
FAST = {"replicates": 40, "gof_replicates": 5}


def code_cells(name: str) -> list[str]:
    notebook = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


class Reader:
    """What a reader sees of one notebook: Markdown, tables, chart text."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def display(self, *objects, **_kwargs) -> None:
        for obj in objects:
            self.show(obj)

    def show(self, obj) -> None:
        if obj is None:
            return
        if hasattr(obj, "to_html"):                 # a DataFrame or a Styler
            self.texts.append(("table", obj.to_html()))
        elif hasattr(obj, "data") and isinstance(obj.data, str):   # Markdown
            self.texts.append(("markdown", obj.data))
        elif hasattr(obj, "_repr_html_"):
            self.texts.append(("html", obj._repr_html_()))

    def read_figures(self) -> None:
        for number in plt.get_fignums():
            figure = plt.figure(number)
            for artist in figure.findobj(Text):
                if artist.get_visible() and artist.get_text():
                    self.texts.append(("chart", artist.get_text()))
        plt.close("all")

    def problems(self) -> list[str]:
        return [f"{kind}: {bad}" for kind, text in self.texts
                for bad in reader_text_problems(text)]


def run_cell(source: str, namespace: dict, reader: Reader) -> None:
    """Execute a cell like Jupyter: the value of a last bare expression is displayed."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is not None:
        tree.body = tree.body[:-1]
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        reader.show(eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace))
    reader.read_figures()


def own_frames(text: str) -> str:
    """A traceback without the frames of installed libraries (short enough to read)."""
    lines = text.splitlines()
    keep = [i for i, line in enumerate(lines) if "site-packages" in line]
    return "\n".join(line for i, line in enumerate(lines)
                     if i not in keep and i - 1 not in keep)


def run_notebook(name: str, ctx, output_dir: Path, monkeypatch) -> list[str]:
    """The notebook's problems: an exception (with its cell) or unclean reader text. ``ctx``
    is shared by the notebooks of one pack (as their feature cache is)."""
    import IPython.display

    import analysis.engine.context as context

    reader = Reader()
    monkeypatch.setattr(context, "open_period", lambda config=None, period=None, **_: ctx)
    monkeypatch.setattr(IPython.display, "display", reader.display)
    cells = code_cells(name)
    namespace: dict = {"__name__": "__notebook__"}
    try:
        exec(cells[0], namespace)                      # the parameters cell
        namespace.update({k: v for k, v in FAST.items() if k in namespace},
                         period=ctx.period.label, output_dir=str(output_dir))
        for number, source in enumerate(cells[1:], start=2):
            try:
                run_cell(source, namespace, reader)
            except Exception:
                return [f"{name} cell {number} raised:\n{own_frames(traceback.format_exc())}"]
    finally:
        plt.close("all")
    return [f"{name} {p}" for p in reader.problems()]


def result_problems(output_dir: Path) -> list[str]:
    """Claims and headlines in results.json that are neither a number nor a stated reason."""
    found = []
    for path in sorted((output_dir / "results").glob("*.json")):
        payload = json.loads(path.read_text())
        for claim in payload["claims"]:
            if claim["estimate"] is None and not claim.get("reason"):
                found.append(f"{path.stem}: claim {claim['claim_id']} has no estimate and "
                             f"no reason ({claim['summary']})")
            found += [f"{path.stem}: claim {claim['claim_id']}: {bad}"
                      for field in ("summary", "reason") if claim.get(field)
                      for bad in reader_text_problems(claim[field])]
        for key, headline in payload["headlines"].items():
            value = headline.get("value")
            if value is None and not headline.get("method"):
                found.append(f"{path.stem}: headline {key} has no value and no reason")
            if value is not None and not math.isfinite(value):
                found.append(f"{path.stem}: headline {key} is {value}")
    return found


def run_pack(company: RandomCompany, names, tmp_path_factory, monkeypatch) -> list[str]:
    output_dir = tmp_path_factory.mktemp("random_pack")
    problems = []
    ctx = company.context()
    for name in [n for n in ORDER if n in names or n in OWNED]:
        found = run_notebook(name, ctx, output_dir, monkeypatch)
        if name in names:
            problems += found
    problems += [p for p in result_problems(output_dir)
                 if any(p.startswith(s) for s in map(section_of, names))]
    return problems


def section_of(notebook: str) -> str:
    return {"04_churn_retention": "churn", "05_customer_lifetime_value": "clv",
            "06_segments": "segments", "07_subscriptions": "subscriptions",
            "01_data_quality": "data_quality", "02_concentration": "concentration",
            "03_satisfaction": "satisfaction", "90_executive_summary": "executive_summary",
            }[notebook]


def report(company: RandomCompany, problems: list[str]) -> str:
    return f"{company.shape}\n" + "\n".join(problems)


#: 200 companies (the issue's bar); RANDOM_COMPANIES=20 for a quick look while developing
EXAMPLES = int(os.environ.get("RANDOM_COMPANIES", "200"))
FAST_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.mark.slow
@FAST_SETTINGS
@given(company=companies())
def test_owned_notebooks_on_random_companies(company, tmp_path_factory):
    """Churn, value, segments and subscriptions: no exception, clean text, stated reasons."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        problems = run_pack(company, OWNED, tmp_path_factory, monkeypatch)
    assert not problems, report(company, problems)


#: what the notebooks this test does not own do on random companies (issue 17, found by this
#: test; their owners fix them): recorded so the suite stays green for the owned notebooks
@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(company=companies())
def test_other_notebooks_on_random_companies(company, tmp_path_factory):
    """Data quality, concentration, satisfaction and the executive summary (KPIs) on the same
    companies (not shrunk: phases=generate)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        problems = run_pack(company, OTHERS, tmp_path_factory, monkeypatch)
    assert not problems, report(company, problems)


def awkward(note: str, **fields) -> pytest.param:
    """A company that once broke a notebook (the note says how), kept as a regression case."""
    base = dict(customers=12, months=12, pattern="regular", amounts="lognormal", period="last",
                seed=1, customers_table=True, surveys=True, interactions=True, cost=True,
                category=True, promotion=True, returns=False, subscriptions=False,
                business="shop")
    return pytest.param(Shape(**(base | fields)), id=note)


AWKWARD = [
    awkward("period-at-first-month-datetime-cast", customers=12, months=3,
            pattern="none_lapse", period="first", seed=1566529388, customers_table=False,
            interactions=False),
    awkward("no-cost-nan-profit-shares", customers=7, months=3, pattern="none_lapse",
            amounts="tied", seed=2060737143, surveys=False, interactions=False, cost=False,
            promotion=False, returns=True),
    awkward("retention-interval-math-range-error", customers=119, months=2, pattern="burst",
            amounts="tied", period="middle", seed=1401835598, customers_table=False,
            surveys=False, interactions=False, cost=False, promotion=False),
    awkward("everyone-bought-once-c5-keyerror", customers=27, months=26, pattern="once",
            seed=0, customers_table=False, surveys=False, interactions=False, cost=False,
            category=False, promotion=False),
]


@pytest.mark.parametrize("shape", AWKWARD)
def test_owned_notebooks_on_awkward_companies(shape, tmp_path_factory):
    company = build(shape)
    with pytest.MonkeyPatch.context() as monkeypatch:
        problems = run_pack(company, OWNED, tmp_path_factory, monkeypatch)
    assert not problems, report(company, problems)
