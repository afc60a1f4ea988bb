"""The package's layout keeps its promises: no import cycles, Redis keys spelled in one module."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import ohlcv_workbench

PACKAGE = Path(ohlcv_workbench.__file__).parent
ROOT = PACKAGE.parent
NAME = PACKAGE.name


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES.get(module, Path()).name == "__init__.py"


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(module: str, tree: ast.AST) -> Iterator[str]:
    """Every package module ``module`` imports: at the top, in functions, under TYPE_CHECKING."""
    base = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                target = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in MODULES else target


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules whose import it runs.

    Importing ``a.b.c`` from outside package ``a.b`` also runs ``a/b/__init__.py``, so that
    package counts as imported too (the ancestors the importer lives in are running already).
    """
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for target in _imported(module, ast.parse(path.read_text(encoding="utf-8"))):
            if not (target == NAME or target.startswith(f"{NAME}.")) or target not in MODULES:
                continue
            own = set(_ancestors(module))
            edges.update(p for p in [*_ancestors(target), target] if p not in own and p != module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_in_functions_and_under_type_checking():
    graph = import_graph()
    # under TYPE_CHECKING in the top-level package, and inside Workbench.dashboard()
    assert f"{NAME}.workbench" in graph[NAME]
    assert f"{NAME}.widgets" in graph[f"{NAME}.workbench"]
    # a relative import of a submodule, and the package a foreign submodule import runs
    assert f"{NAME}.registry.keys" in graph[f"{NAME}.registry.cache"]
    assert f"{NAME}.services" in graph[f"{NAME}.registry.leases"]


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


#: a Redis key or prefix spelled out: fullon's ``process:...`` or the workbench's own
_KEY_TEXT = re.compile(
    r"\b(process|ohlcv_workbench):(data|active|components|broadcast|lease|stop)\b"
)


def _code_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string constant of the code (f-string parts included), docstrings left out."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def test_redis_keys_are_spelled_only_in_the_registry_keys_module():
    keys_module = PACKAGE / "registry" / "keys.py"
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for number, text in _code_strings(tree):
            if path != keys_module and _KEY_TEXT.search(text):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {text!r}")
    assert offenders == []
    spelled = [t for _, t in _code_strings(ast.parse(keys_module.read_text(encoding="utf-8")))]
    assert any(":data:" in t for t in spelled) and any(":lease" in t for t in spelled)
