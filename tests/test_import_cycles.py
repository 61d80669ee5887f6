"""The modules named in issue 17 do not import each other in a cycle.

The graph is read from the source (every ``import`` / ``from ... import`` anywhere in a module,
inside functions and ``if TYPE_CHECKING:`` blocks too), so a lazy import inside a function
still counts: it is the dependency that matters, not when it is paid.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the tunelab modules it imports (``from pkg import mod`` resolves to pkg.mod)."""
    modules = {_module_name(p): p for p in (SRC / "tunelab").rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:  # the root package is imported by every module: not an edge
                if t in modules and t not in (name, "tunelab"):
                    graph[name].add(t)
    return graph


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """An import path from ``start`` to ``goal`` (through any modules), or None."""
    seen = {start}
    stack: list[list[str]] = [[start]]
    while stack:
        path = stack.pop()
        for nxt in sorted(graph[path[-1]]):
            if nxt == goal:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append([*path, nxt])
    return None


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    g = import_graph()
    assert "tunelab.vision.augment" in g["tunelab.vision"]  # under TYPE_CHECKING, and lazily
    assert "tunelab.schedulers.asha" in g["tunelab.schedulers"]  # inside a function


@pytest.mark.parametrize(("a", "b"), [
    ("tunelab.spec", "tunelab.composition"),
    ("tunelab.executors", "tunelab.objectives"),
    ("tunelab.vision.prepare", "tunelab.vision.train"),
])
def test_no_cycle_between(a: str, b: str) -> None:
    g = import_graph()
    # for packages, any module inside counts as the package
    def members(p: str) -> list[str]:
        return [m for m in g if m == p or m.startswith(p + ".")]

    there = [path for x in members(a) for y in members(b) if (path := reaches(g, x, y))]
    back = [path for x in members(b) for y in members(a) if (path := reaches(g, x, y))]
    assert not (there and back), f"{' -> '.join(there[0])}  and back:  {' -> '.join(back[0])}"
