"""Lower layers never import upper ones."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pypeline"

# Layer rank of each module prefix; a module may import only modules of the same or a lower rank.
RANKS = [
    ("pypeline.errors", 0), ("pypeline.settings", 0), ("pypeline.formats", 0), ("pypeline.version", 0),
    ("pypeline.envtable", 0),
    ("pypeline.status", 1),
    ("pypeline.config", 2), ("pypeline.dag", 3), ("pypeline.store", 4), ("pypeline.tasks", 5),
    ("pypeline.engines", 6), ("pypeline.pipeline", 7), ("pypeline.runtime", 7), ("pypeline.celery", 8),
    # Leases and the reconciler: used by the runtime (worker bootstep), never importing it.
    ("pypeline.reconciler", 7),
    ("pypeline.scheduler", 9), ("pypeline.celery_beat", 9), ("pypeline.generators", 9),
    ("pypeline.services", 10), ("pypeline.utils", 10), ("pypeline.batches", 10),
    ("pypeline.api", 11), ("pypeline.web", 11), ("pypeline.commands", 12),
    ("pypeline.cli", 13), ("pypeline.__main__", 14),
    # The original's import surface: implementations in pypeline.compat, re-exported at the old paths.
    ("pypeline.compat", 12), ("pypeline.compat.deprecation", 0), ("pypeline.compat.celery_app", 8),
    ("pypeline.compat.beat", 9), ("pypeline.compat.graph", 3), ("pypeline.compat.modules", 2),
    ("pypeline.compat.runs", 10), ("pypeline.compat.config_utils", 10), ("pypeline.compat.builtin_tasks", 10),
    ("pypeline.compat.schemas", 9), ("pypeline.compat.sermos_yaml", 9), ("pypeline.compat.flask_auth", 11),
    ("pypeline.flask", 12), ("pypeline.extensions", 12), ("pypeline.sermos_yaml", 12),
    ("pypeline.pipeline_config_schema", 12), ("pypeline.schedule_config_schema", 12),
    ("pypeline.pipeline.chained_task", 12), ("pypeline.pipeline.generator", 12),
    # A store-level table (only SQLAlchemy + pypeline.store.models) kept beside the API that uses it.
    ("pypeline.api.keys_models", 4),
]
# Migration tooling imports every model module to build one metadata.
EXEMPT = {"pypeline.store.migrations.env"}


def _rank(module: str) -> int | None:
    if module == "pypeline":
        return 100  # the package root is the public facade over every layer; nothing inside imports it
    best = None
    for prefix, rank in RANKS:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rank)
    return None if best is None else best[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [m for m in found if m.startswith("pypeline")]


def test_no_upward_imports() -> None:
    violations = []
    for path in PKG.rglob("*.py"):
        module = ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
        if module in EXEMPT:
            continue
        own = _rank(module)
        assert own is not None, f"{module} has no layer in tests/test_layering.py"
        for imported in _imports(path):
            rank = _rank(imported)
            if rank is not None and rank > own:
                violations.append(f"{module} (layer {own}) imports {imported} (layer {rank})")
    assert violations == []
