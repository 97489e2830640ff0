"""The house rules of issue 20, checked on the tree: readable module sizes, no import circles.

- No module under ``common/`` over `MAX_LINES` lines unless its docstring says
  why ("Over 400 lines on purpose: ...").
- No import circle among ``common/`` modules (imports inside functions count:
  they are circles all the same, only later). The one exception is a
  ``registry`` module importing the members of its own package so that they
  register themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

COMMON = Path(__file__).resolve().parents[2] / "common"
MAX_LINES = 400
REASON = "Over 400 lines on purpose"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(COMMON.rglob("*.py")):
        parts = path.relative_to(COMMON.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module → the ``common`` modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    full = ".".join(base + ([node.module] if node.module else []))
                else:
                    full = node.module or ""
                targets = [f"{full}.{alias.name}" for alias in node.names] + [full]
            for target in targets:
                found = _resolve(target, modules)
                if found and found != name:
                    graph[name].add(found)
    return graph


def _without_registrations(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph less a ``registry`` module's imports of its own package's members."""
    kept = {}
    for name, targets in graph.items():
        if name.rpartition(".")[2] == "registry":
            package = name.rpartition(".")[0]
            targets = {t for t in targets if t != package and not t.startswith(package + ".")}
        kept[name] = targets
    return kept


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles_in_common() -> None:
    assert circles(_without_registrations(import_graph())) == []


def test_the_check_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    registry = {"p": {"p.registry"}, "p.registry": {"p.x"}, "p.x": {"p.registry"}}
    assert circles(_without_registrations(registry)) == []


def test_no_module_over_400_lines_without_a_reason() -> None:
    too_long = []
    for path in _modules().values():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            too_long.append(f"{path.relative_to(COMMON.parent)} ({lines} lines)")
    assert too_long == [], f"split by responsibility, or say in the docstring: {REASON}: ..."
