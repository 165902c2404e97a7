"""Can a newcomer walk the house top-down? Read from the code's own imports (every import, module-level or inside a
function): no two modules import each other, however far round; no module imports another's private names; a
module never imports a package above its own floor.

The floors, bottom up: `course`'s base modules (errors, paths, untrusted_text, connect, steps, handoffs, hints,
auto, scripts) < `course.lesson` and `course.offline` < `course.jupyter` < `course.terminal`, `course.build` and
`python -m course` < `grader`. A floor may import its own and any below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("course", "grader")
BASE = {"course", "course.errors", "course.paths", "course.untrusted_text", "course.connect", "course.steps",
        "course.handoffs", "course.hints", "course.auto", "course.scripts"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module imported, name imported) for every import of `path` that lands in the course or the grader."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                whole = f"{target}.{alias.name}"
                found.append((whole if whole in known else target, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return [(module, imported) for module, imported in found if module in known and module != name]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {module for module, _ in imports(name, path, known)} for name, path in known.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other (Tarjan's strongly connected components, walked with a stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
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
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def floor(name: str) -> int:
    if name in BASE:
        return 0
    if name.startswith(("course.lesson", "course.offline")):
        return 1
    if name.startswith("course.jupyter"):
        return 2
    if name.startswith(("course.terminal", "course.build", "course.__main__")):
        return 3
    if name.startswith("grader"):
        return 4
    return 0


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    """The test above can fail: a made-up circle of three is found, and a chain is not one."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_private_names_across_modules() -> None:
    known = modules()
    private = [f"{name} imports {imported} from {module}" for name, path in known.items()
               for module, imported in imports(name, path, known)
               if imported.startswith("_") and not imported.startswith("__")]
    assert private == []


def test_no_import_runs_back_up_a_floor() -> None:
    edges = graph()
    upward = [f"{name} (floor {floor(name)}) imports {module} (floor {floor(module)})"
              for name in edges for module in edges[name] if floor(module) > floor(name)]
    assert upward == []


def test_each_package_docstring_names_every_module_it_holds() -> None:
    """A package's docstring is its map: every module and subpackage it holds is named there (in backquotes or as
    a word), so that a newcomer reading it finds each file. `__main__` is the package's command, not a module to
    find."""
    import re

    unnamed = []
    for package, init in sorted(modules().items()):
        if init.name != "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        held = [p.stem for p in init.parent.glob("*.py") if p.stem not in ("__init__", "__main__")]
        held += [p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()]
        unnamed += [f"{package}.{m}" for m in sorted(held) if not re.search(rf"\b{re.escape(m)}\b", doc)]
    assert not unnamed, "not named in their package's docstring: " + ", ".join(unnamed)
