"""Render executed notebooks: analyst HTML (with code), leadership HTML (no code) and PDF.

Both HTML files use the project template ``templates/cvl``: self-contained (figures
embedded as data URIs, CSS inline), no scripts or styles from the internet. The
leadership version hides code, prompts, parameter cells, error and stderr outputs
and scripts; the PDF is WeasyPrint's rendering of the leadership HTML on A4.

A section that failed or was not run keeps its place: :func:`failure_notebook` gives it
its heading and a block that says what failed, where, the message and what to try
(the analyst version also keeps the cells that ran, with the error).
"""

from __future__ import annotations

import copy
import html
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from traitlets.config import Config

from analysis.report.failures import DEFAULT_HINT, clean_message

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "cvl"
AUDIENCES = ("analyst", "leadership")
PARAMETER_TAGS = ("parameters", "injected-parameters")
HIDDEN_TAGS = ("remove-leadership", "remove_cell")
SCRIPT_MIMETYPES = (
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
EXTERNAL_RESOURCE = re.compile(
    r"""(?:src|href|data|poster|action)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""",
    re.IGNORECASE,
)
ANY_URL = re.compile(r"https?://", re.IGNORECASE)
#: the cells papermill adds to a failed notebook (a banner and an anchor)
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"


class LeadershipCleaner(Preprocessor):
    """Drop what leadership must not see: errors, stderr, scripts and widget state."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            kept = []
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    continue
                if output.output_type == "stream" and output.get("name") == "stderr":
                    continue
                if output.output_type in ("display_data", "execute_result"):
                    for mime in SCRIPT_MIMETYPES:
                        output.get("data", {}).pop(mime, None)
                    if not output.get("data"):
                        continue
                kept.append(output)
            cell.outputs = kept
        return nb, resources


def combine(notebooks: Sequence[Path | nbformat.NotebookNode],
            titles: Sequence[str] | None = None) -> nbformat.NotebookNode:
    """One notebook made of several, each starting on a new page (for the pack HTML/PDF)."""
    parts = [n if isinstance(n, nbformat.NotebookNode) else nbformat.read(n, as_version=4)
             for n in notebooks]
    if not parts:
        raise ValueError("combine: no notebooks given")
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(parts[0].metadata))
    out.metadata.pop("papermill", None)
    for i, nb in enumerate(parts):
        if i:
            out.cells.append(nbformat.v4.new_markdown_cell(
                '<div class="cvl-section-break"></div>', id=f"nb{i:02d}-break"))
        for j, cell in enumerate(nb.cells):
            cell = copy.deepcopy(cell)
            cell["id"] = f"nb{i:02d}-c{j:03d}"
            out.cells.append(cell)
    return out


def failure_notebook(failure: Mapping, source: Path, executed: Path | None,
                     audience: str) -> nbformat.NotebookNode:
    """The place of a failed or skipped section (``failure``: a
    :class:`analysis.report.failures.Failure` as JSON): the section's first Markdown cell
    (its heading and introduction), then the failure block; for analysts also the cells
    that ran, with the error, when the executed notebook exists."""
    block = nbformat.v4.new_markdown_cell(failure_block(failure, audience))
    if audience == "analyst" and executed is not None and Path(executed).exists():
        nb = nbformat.read(executed, as_version=4)
        nb.cells = [c for c in nb.cells
                    if PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
        nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, block)
        return nb
    nb = nbformat.read(source, as_version=4)
    first = [c for c in nb.cells[:1] if c.cell_type == "markdown"]
    heading = first or [nbformat.v4.new_markdown_cell(f"# {markdown_safe(failure['title'])}")]
    nb.cells = [*heading, block]
    return nb


def failure_block(failure: Mapping, audience: str) -> str:
    """The HTML block that takes a failed section's place: what failed, where (notebook
    and cell), the message and what to try. Data text is escaped for HTML and Markdown."""
    notebook = markdown_safe(failure.get("notebook") or "a notebook")
    if failure["status"] == "skipped":
        title = "This section was not run"
        what = f"The notebook <code>{notebook}</code> was not run: "
        what += markdown_safe(clean_message(failure.get("message"))) + "."
        lines = [what]
    else:
        title = "This section could not be completed"
        where = (f" at cell {failure['cell']}" if isinstance(failure.get("cell"), int) else "")
        code = failure.get("code") or ""
        if audience == "analyst" and code:
            where += f" (<code>{markdown_safe(code)}</code>)"
        lines = [f"<b>What failed:</b> the notebook <code>{notebook}</code> stopped{where}.",
                 f"<b>Message:</b> <code>{markdown_safe(failure.get('error') or 'Error')}: "
                 f"{markdown_safe(clean_message(failure.get('message')))}</code>"]
    lines.append(f"<b>What to try:</b> {markdown_safe(failure.get('hint') or DEFAULT_HINT)}")
    if failure.get("affects"):
        names = ", ".join(f"<code>{markdown_safe(n)}</code>" for n in failure["affects"])
        lines.append(f"<b>Also affected:</b> {names}, which use the results of this "
                     "section: run without them, or not run, as their own pages say.")
    body = "".join(f"<p>{line}</p>" for line in lines)
    return f'<div class="cvl-failed"><p class="cvl-failed-title">{title}</p>{body}</div>'


def markdown_safe(text: str) -> str:
    """``text`` escaped for HTML, with the characters Markdown or math rendering would
    read (``$ * _ ` \\ [ ]``) written as character references; one line."""
    escaped = html.escape(" ".join(str(text).split()))
    return re.sub(r"[$*_`\\\[\]]", lambda m: f"&#{ord(m.group(0))};", escaped)


def exporter(audience: str) -> HTMLExporter:
    """An HTMLExporter with the project template configured for ``audience``."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    c = Config()
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATE_DIR)]
    c.HTMLExporter.template_name = TEMPLATE_NAME
    c.HTMLExporter.embed_images = True
    c.HTMLExporter.exclude_anchor_links = True
    if audience == "leadership":
        c.TemplateExporter.exclude_input = True
        c.TemplateExporter.exclude_input_prompt = True
        c.TemplateExporter.exclude_output_prompt = True
        c.TagRemovePreprocessor.enabled = True
        c.TagRemovePreprocessor.remove_cell_tags = set(PARAMETER_TAGS) | set(HIDDEN_TAGS)
    else:
        c.TagRemovePreprocessor.enabled = True
        c.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS) - {"remove-leadership"}
    exp = HTMLExporter(config=c)
    exp.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    if audience == "leadership":
        exp.register_preprocessor(LeadershipCleaner(), enabled=True)
    return exp


def render_html(notebook: Path | nbformat.NotebookNode, out_path: Path, audience: str, *,
                title: str, subtitle: str = "", footer: str = "") -> Path:
    """Write the HTML of ``notebook`` for ``audience``; raise if it is not self-contained."""
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(
        notebook, as_version=4)
    resources = {
        "metadata": {"name": title},
        "cvl": {"title": title, "subtitle": subtitle, "footer": footer, "audience": audience},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbconvert warns about alt text and missing ids
        body, _ = exporter(audience).from_notebook_node(copy.deepcopy(nb), resources=resources)
    problems = external_resources(body)
    if problems:
        raise ValueError(
            f"{out_path.name}: the HTML loads external resources {problems[:3]}; remove them "
            "from the notebook outputs (the pack must work offline)"
        )
    if audience == "leadership" and "<script" in body.lower():
        body = re.sub(r"<script\b.*?</script>", "", body, flags=re.IGNORECASE | re.DOTALL)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(body, encoding="utf-8")
    return out_path


def external_resources(html_text: str) -> list[str]:
    """Attributes or CSS that would fetch something over the network (empty = offline)."""
    return [m.group(0) for m in EXTERNAL_RESOURCE.finditer(html_text)]


def render_pdf(html_path: Path, pdf_path: Path) -> Path:
    """A4 PDF of an HTML file with WeasyPrint (print CSS is inside the HTML), offline."""
    import logging

    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    HTML(filename=str(html_path), base_url=str(html_path.parent),
         url_fetcher=offline_fetcher()).write_pdf(str(pdf_path), presentational_hints=True)
    return pdf_path


def offline_fetcher():
    """A WeasyPrint URL fetcher that never goes to the network (data: and local files only)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data", "file"})
