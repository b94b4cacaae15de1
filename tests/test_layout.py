"""The package's layout: layers import only downwards, no module imports itself in a circle,
and the README's layout table names the folders that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from analysis.core.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "analysis"
#: the flow of the data; a layer may import its own and lower layers only
LAYERS = ("core", "data", "engine", "analyses", "report")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_of(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports, at the top or inside functions. ``from a.b import
    c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)   # analysis itself, analysis.cli: the shell over every layer


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_itself_in_a_circle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_the_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_layers_import_only_downwards():
    upward = [f"{m} ({LAYERS[layer(m)] if layer(m) < len(LAYERS) else 'shell'}) imports {t}"
              for m, targets in graph().items() for t in sorted(targets) if layer(t) > layer(m)]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_says_what_it_holds_and_may_import(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
    assert doc and "May import" in doc


def test_readme_layout_table_matches_the_tree():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))
    missing = [p for p in listed if not (PROJECT_ROOT / p).exists()]
    assert not missing, f"README layout lists paths that do not exist: {missing}"
    folders = {f"src/analysis/{p.name}/" for p in PACKAGE.iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    folders |= {f"src/analysis/analyses/{p.name}/" for p in (PACKAGE / "analyses").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= listed, f"README layout misses {sorted(folders - listed)}"
    top = {"notebooks/", "config/", "data/", "reports/", "benchmarks/", "docs/", "tests/"}
    assert top <= listed, f"README layout misses {sorted(top - listed)}"
