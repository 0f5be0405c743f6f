"""Server-side layout of a pipeline DAG as inline SVG geometry: one column per topological level."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Box", "EdgePath", "Layout", "layout_dag"]


@dataclass(frozen=True)
class Box:
    """A node's rectangle."""

    name: str
    x: float
    y: float
    w: float
    h: float
    label: str

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + self.h / 2


@dataclass(frozen=True)
class EdgePath:
    """An edge drawn as a cubic Bézier from the parent's right side to the child's left side."""

    source: str
    target: str
    d: str


@dataclass(frozen=True)
class Layout:
    """Everything a template needs to draw the DAG."""

    width: float
    height: float
    boxes: list[Box]
    edges: list[EdgePath]

    def box(self, name: str) -> Box:
        """The box of a node."""
        return next(b for b in self.boxes if b.name == name)


def _label(name: str, max_chars: int) -> str:
    return name if len(name) <= max_chars else name[: max_chars - 1] + "…"


def _order_columns(levels: Sequence[Sequence[str]], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Reduce edge crossings with a few barycentre sweeps (down on parents, up on children)."""
    columns = [list(level) for level in levels]
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for u, v in edges:
        parents.setdefault(v, []).append(u)
        children.setdefault(u, []).append(v)

    def centre(node: str, ref: dict[str, int], current: dict[str, int], neighbours: dict[str, list[str]]) -> float:
        near = [ref[p] for p in neighbours.get(node, []) if p in ref]
        return sum(near) / len(near) if near else float(current[node])

    def reorder(col: list[str], ref: dict[str, int], neighbours: dict[str, list[str]]) -> list[str]:
        current = {n: k for k, n in enumerate(col)}
        return sorted(col, key=lambda n: (centre(n, ref, current, neighbours), current[n]))

    def sweep(cols: list[list[str]], neighbours: dict[str, list[str]], indices: range) -> None:
        for i in indices:
            ref = {n: k for k, n in enumerate(cols[i - 1 if indices.step > 0 else i + 1])}
            cols[i] = reorder(cols[i], ref, neighbours)

    for _ in range(2):
        sweep(columns, parents, range(1, len(columns), 1))
        sweep(columns, children, range(len(columns) - 2, -1, -1))
    return columns


def layout_dag(
    levels: Sequence[Sequence[str]],
    edges: Sequence[tuple[str, str]],
    *,
    node_h: float = 46.0,
    gap_x: float = 64.0,
    gap_y: float = 20.0,
    margin: float = 12.0,
) -> Layout:
    """Place nodes left to right by level (from `PipelineDag.levels`) and route every edge."""
    columns = _order_columns(levels, edges)
    longest = max((len(n) for col in columns for n in col), default=4)
    max_chars = 26
    node_w = min(max(8.0 * min(longest, max_chars) + 28.0, 120.0), 240.0)
    tallest = max((len(col) for col in columns), default=0)
    height = 2 * margin + tallest * node_h + max(tallest - 1, 0) * gap_y
    width = 2 * margin + len(columns) * node_w + max(len(columns) - 1, 0) * gap_x
    boxes: dict[str, Box] = {}
    for i, col in enumerate(columns):
        col_h = len(col) * node_h + max(len(col) - 1, 0) * gap_y
        top = margin + (height - 2 * margin - col_h) / 2
        for k, name in enumerate(col):
            boxes[name] = Box(name, margin + i * (node_w + gap_x), top + k * (node_h + gap_y), node_w, node_h,
                              _label(name, max_chars))
    paths = []
    for u, v in edges:
        a, b = boxes[u], boxes[v]
        x1, y1, x2, y2 = a.x + a.w, a.cy, b.x, b.cy
        mid = (x1 + x2) / 2
        paths.append(EdgePath(u, v, f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"))
    ordered = [boxes[n] for col in columns for n in col]
    return Layout(width=max(width, 1.0), height=max(height, 1.0), boxes=ordered, edges=paths)
