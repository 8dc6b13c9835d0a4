"""The layers of CONTRIBUTING.md, read from the source with ``ast`` (nothing is imported).

Lens packages never import the demo; no module imports a private (``_name``) module or name
from another of mathguard's packages; no module imports itself back, through any chain.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import mathguard

SRC = Path(mathguard.__file__).parent
#: Packages that may import the demo: the demo itself and the layers above the lenses.
DEMO_USERS = ("mathguard.demo", "mathguard.cli", "mathguard.auditor")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _package(module: str) -> str:
    """The top-level part of mathguard a module belongs to: ``mathguard.attacks``, ``mathguard.io``, …"""
    return ".".join(module.split(".")[:2])


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.AST, runtime_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement; with ``runtime_only``, not those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if runtime_only and _is_type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _import_nodes(node, runtime_only)


def _base(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from … import`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{anchor}.{node.module}" if node.module else anchor


def imported(module: str, runtime_only: bool = False) -> Iterator[str]:
    """Dotted targets a module imports: ``a.b`` for ``import a.b``, ``a.b.c`` for ``from a.b import c``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in _import_nodes(tree, runtime_only):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        else:
            base = _base(module, node)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _own_targets(module: str) -> Iterator[str]:
    """What a module imports from mathguard."""
    return (t for t in imported(module) if t.split(".")[0] == "mathguard")


def test_modules_are_found():
    assert {"mathguard", "mathguard.report.report", "mathguard.demo", "mathguard.validate"} <= MODULES.keys()


def test_lens_packages_never_import_the_demo():
    lenses = [m for m in MODULES if m != "mathguard" and _package(m) not in DEMO_USERS]
    offenders = [(m, t) for m in lenses for t in _own_targets(m) if _package(t) == "mathguard.demo"]
    assert offenders == []


def test_no_private_import_across_packages():
    offenders = [(m, t) for m in MODULES for t in _own_targets(m)
                 if _is_private(t) and _package(t) != _package(m)]
    assert offenders == []


def _graph(runtime_only: bool) -> dict[str, set[str]]:
    """Imports among mathguard's modules (a name imported from a module counts as that module; a package's
    ``__init__`` is the package), including imports inside functions: a lazy import only hides a cycle."""
    graph: dict[str, set[str]] = {}
    for m in MODULES:
        if ".migrations" in m:
            continue
        edges = set()
        for t in imported(m, runtime_only=runtime_only):
            target = t if t in MODULES else t.rpartition(".")[0]
            if target in MODULES and target != m and ".migrations" not in target:
                edges.add(target)
        graph[m] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph as a path, or [] when it has none (depth-first search)."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str]:
        for nxt in sorted(graph[path[-1]]):
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            if nxt not in done and (found := visit(path + [nxt])):
                return found
        done.add(path[-1])
        return []

    return next((found for start in sorted(graph) if (found := visit([start]))), [])


def test_cycle_finder_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    """No import loop anywhere in the package, type-only imports included (#26 closed the last four: the Dask
    adapters, the relevance binning, the attack geometry, the report renderers)."""
    assert _cycle(_graph(runtime_only=False)) == []
