"""Layers import only downward: analysis -> experiments -> munit; munit never imports mlflow or optuna; no module
of the three packages takes part in an import circle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("munit", "experiments", "analysis")


def _loaded_after_importing(package: str) -> set[str]:
    code = (
        "import importlib, pkgutil, sys\n"
        f"import {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_munit_needs_neither_mlflow_nor_optuna_nor_upper_layers():
    loaded = _loaded_after_importing("munit")
    assert not loaded & {"mlflow", "optuna", "experiments", "analysis"}, loaded & {"mlflow", "optuna",
                                                                                  "experiments", "analysis"}


def test_experiments_does_not_import_analysis():
    assert "analysis" not in _loaded_after_importing("experiments")


# ------------------------------------------------------------------------------------------- import circles

def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """Every import statement, at any depth (functions included), except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Edges module -> module it imports, within ``packages``. ``from pkg import name`` points at ``pkg.name``
    when that is a module, else at ``pkg``. A package's own ``__init__`` is not an implicit edge (importing
    ``a.b`` runs ``a/__init__.py``, but Python resolves that without a circle)."""
    mods = _modules(root, packages)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:  # import a.b.c where only a.b is ours: the closest module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_through(graph: dict[str, set[str]], comp: list[str]) -> str:
    """One circle inside a component, spelled out: a -> b -> c -> a."""
    start, members = comp[0], set(comp)
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in members)
        back = [w for w in nxt if w in seen]
        if back:
            return " -> ".join(path[path.index(back[0]):] + [back[0]])
        path.append(nxt[0])
        seen.add(nxt[0])


def test_no_import_circle():
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 40 and "munit.metrics.session" in graph["munit.cli"] | graph["munit.bench"] | set().union(
        *graph.values())
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(_path_through(graph, c) for c in found)


def test_the_circle_check_finds_a_planted_circle(tmp_path):
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from toy.sub import c\n")          # a function-level import counts
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from ..d import y\n")
    (pkg / "d.py").write_text("from .sub import c\n")                          # only a TYPE_CHECKING edge back
    graph = import_graph(tmp_path, ("toy",))
    assert graph["toy.sub.c"] == {"toy.a"} and graph["toy.d"] == {"toy.sub.c"}
    assert circles(graph) == [["toy.a", "toy.b", "toy.sub.c"]]
    assert _path_through(graph, circles(graph)[0]) == "toy.a -> toy.b -> toy.sub.c -> toy.a"
