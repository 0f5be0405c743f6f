"""The package import graph of `pypeline/`: ranked, acyclic, and the two web faces independent.

An edge is every `import`/`from ... import` anywhere in a module (module level, inside functions, under
TYPE_CHECKING) and every `importlib.import_module("pypeline...")` with a literal name. Edges are counted
between packages: `pypeline.<first part>` (a subpackage, or a top-level module).

Dotted names written as data are not edges, but they must name something that exists (checked below):
the lazy aliases that serve a name at its old path (`_ALIASES`/`_MOVED` tables of `__getattr__` modules;
they never import at import time), Celery plugin names (`conf.imports`, `beat_scheduler`) that a worker or
beat loads by name, and the CLI's lazy `COMMANDS` table.
"""
from __future__ import annotations

import ast
import importlib
import re
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pypeline"

#: Rank of each package of pypeline; a package imports only packages of the same or a lower rank.
RANKS: dict[str, int] = {
    "pypeline.errors": 0, "pypeline.settings": 0, "pypeline.deprecation": 0, "pypeline.formats": 0,
    "pypeline.version": 0, "pypeline.envtable": 0,
    "pypeline.status": 1,
    "pypeline.config": 2,
    "pypeline.dag": 3,
    "pypeline.store": 4,
    "pypeline.tasks": 5,
    "pypeline.engines": 6,
    "pypeline.reconciler": 7,
    "pypeline.runtime": 8,
    "pypeline.pipeline": 9, "pypeline.celery": 9, "pypeline.celery_beat": 9,
    "pypeline.generators": 10, "pypeline.scheduler": 10, "pypeline.batches": 10,
    "pypeline.services": 11,
    "pypeline.http": 12,
    "pypeline.api": 13, "pypeline.web": 13,
    "pypeline.webapp": 14,
    # The original's import surface: implementations in compat, thin re-exports at the old paths above it.
    "pypeline.compat": 15,
    "pypeline.utils": 16, "pypeline.flask": 16, "pypeline.extensions": 16, "pypeline.sermos_yaml": 16,
    "pypeline.pipeline_config_schema": 16, "pypeline.schedule_config_schema": 16,
    "pypeline.commands": 17,
    "pypeline.cli": 18,
    "pypeline.__main__": 19,
    # The package root is the public facade over every layer (lazy); nothing inside imports it.
    "pypeline": 20,
}
#: Packages that must never import each other (the two faces over services).
SIDE_BY_SIDE = ("pypeline.api", "pypeline.web")
_DOTTED = re.compile(r"^pypeline(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?$")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _resolve_relative(module: str, path: Path, node: ast.ImportFrom) -> str:
    parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path) -> list[str]:
    """Every pypeline module `path` imports (statements anywhere, literal importlib calls)."""
    module = _module_name(path)
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append(_resolve_relative(module, path, node) if node.level else node.module or "")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            if name == "import_module" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(first.value)
    return [m for m in found if m == "pypeline" or m.startswith("pypeline.")]


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in _modules().items():
        for imported in _imports(path):
            if _package(imported) != _package(module):
                edges[_package(module)].add(_package(imported))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
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

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_rank() -> None:
    missing = sorted({_package(m) for m in _modules()} - set(RANKS))
    assert missing == [], f"add these packages to RANKS in tests/test_layering.py: {missing}"


def test_no_upward_imports() -> None:
    violations = []
    for source, targets in _graph().items():
        for target in targets:
            if RANKS[target] > RANKS[source]:
                violations.append(f"{source} (rank {RANKS[source]}) imports {target} (rank {RANKS[target]})")
    assert sorted(violations) == []


def test_package_import_graph_is_acyclic() -> None:
    assert _cycles(_graph()) == []


def test_the_two_faces_never_import_each_other() -> None:
    graph = _graph()
    for face in SIDE_BY_SIDE:
        others = {other for other in SIDE_BY_SIDE if other != face}
        assert not graph.get(face, set()) & others, f"{face} imports {sorted(others)}"


def test_cycle_detection_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_function_level_and_importlib_imports_are_edges(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import importlib\n\ndef f():\n    from pypeline.webapp import create_app\n"
                      "    return importlib.import_module('pypeline.web')\n")
    assert sorted(_imports_of_text(source)) == ["pypeline.web", "pypeline.webapp"]


def _imports_of_text(path: Path) -> list[str]:
    global PKG
    saved, PKG = PKG, path.parent.parent  # _imports names modules relative to PKG's parent
    try:
        return _imports(path)
    finally:
        PKG = saved


def test_dotted_names_written_as_data_exist() -> None:
    """Aliases, Celery plugin names and lazy command modules name real modules and attributes."""
    modules = _modules()
    checked = 0
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.match(node.value)):
                continue
            name, _, attr = node.value.partition(":")
            if name not in modules:
                continue  # a task or logger name that only looks like a path ("pypeline.batch_driver")
            checked += 1
            if attr:
                assert hasattr(importlib.import_module(name), attr), f"{_module_name(path)}: {node.value}"
    assert checked > 10


def _readme_ranks() -> dict[str, int]:
    """Package -> rank as drawn in README's Architecture block (`N  names...   description` lines)."""
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture"):readme.index("## Testing")]
    block = section[section.index("```\n") + 4:section.index("\n```", section.index("```\n") + 4)]
    drawn: dict[str, int] = {}
    rank = -1
    for line in block.splitlines():
        names_part = line[:40]
        head = names_part.split()
        if head and head[0].isdigit():
            rank = int(head[0])
            head = head[1:]
        for word in head:
            word = word.strip("()")
            if word.isdigit() or word == "...":
                if word.isdigit():
                    rank = int(word)
                continue
            name = word.removesuffix("/").removesuffix(".py")
            drawn["pypeline" if name == "__init__" else f"pypeline.{name}"] = rank
    return drawn


def test_readme_architecture_matches_the_ranks() -> None:
    """Every package README's Architecture block names sits at the rank the layering test enforces."""
    drawn = _readme_ranks()
    assert len(drawn) >= 20, drawn
    wrong = {name: (rank, RANKS.get(name)) for name, rank in drawn.items() if RANKS.get(name) != rank}
    assert wrong == {}, "README rank vs tests/test_layering.py RANKS"
