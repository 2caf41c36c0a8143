"""The package's layout: no import circles, settings at the bottom.

Every ``import`` of a ``staffgraph`` module counts, at module level or inside a function (an
import deferred into a function is how a circle usually hides), except those under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import staffgraph

PACKAGE_DIR = Path(staffgraph.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        if "migrations" in path.relative_to(PACKAGE_DIR).parts:
            continue  # Tortoise's generated migrations import only Tortoise
        parts = ("staffgraph", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ours that ``name`` (a module or ``module.attribute``) lives in."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> set[str]:
    """The modules of the package that ``module`` imports when its code runs."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            ours = [name for name in submodules if name in MODULES]
            names.update(ours)
            if len(ours) < len(submodules):
                names.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    targets = set()
    for name in names:
        owner = _owner(name) if name.startswith("staffgraph") else None
        if owner is None or owner == module:
            continue
        targets.add(owner)
        # importing a.b.c runs the packages a.b first (unless we are inside them)
        parts = owner.split(".")
        for i in range(2, len(parts)):
            package = ".".join(parts[:i])
            if package in MODULES and not module.startswith(package + "."):
                targets.add(package)
    return targets


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_the_package_has_no_import_circles():
    graph = {module: imports_of(module) for module in MODULES}
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_settings_import_nothing_else_of_the_package():
    assert imports_of("staffgraph.settings") == set()


def test_imports_inside_functions_count():
    # Context loads the management subtree through an import deferred into a method
    assert "staffgraph.resolvers.hierarchy" in imports_of("staffgraph.context")
