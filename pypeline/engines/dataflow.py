"""Dataflow analysis for the event engine: split scopes, keyed joins, filter closures and instance ids.

A node with `split: true` opens a *scope*: every node downstream of it runs once per element of the
list it returns (an *instance*, id = element index; nested splits give "3.1"). A node with `joinKey`
downstream of a split *closes* the innermost open scope: it runs once, after every instance, with the
instances' results grouped by the key. Nodes after the join are outside the scope again.
All rules are pure functions of the DAG; the store only applies the plans built here.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pypeline.config import codes
from pypeline.config.model import PypelineConfig
from pypeline.dag import PipelineDag
from pypeline.errors import ConfigIssue, InvalidInputError, NodeExecutionError

if TYPE_CHECKING:  # imported where used: `pypeline validate` checks dataflow without loading the store
    from pypeline.store.repository import FinishPlan, Gate, NodeSpec

__all__ = [
    "dataflow_issues",
    "Dataflow",
    "Inputs",
    "SplitInfo",
    "parse_key",
    "extract_key",
    "group_by_key",
    "child_instance",
    "instance_prefix",
    "instance_depth",
    "instance_index",
]

Pair = tuple[str, str]


def child_instance(parent: str, index: int) -> str:
    """The id of element `index` of a split running in instance `parent` ("" is the top level)."""
    return f"{parent}.{index}" if parent else str(index)


def instance_depth(instance: str) -> int:
    """How many splits deep an instance id is ("" → 0, "3" → 1, "3.1" → 2)."""
    return instance.count(".") + 1 if instance else 0


def instance_prefix(instance: str, depth: int) -> str:
    """The enclosing instance at `depth` ("3.1", 1 → "3"; depth 0 → "")."""
    return ".".join(instance.split(".")[:depth]) if depth > 0 else ""


def instance_index(instance: str) -> int:
    """The element index of the innermost split of an instance ("3.1" → 1)."""
    return int(instance.rsplit(".", 1)[-1])


def parse_key(expression: str) -> tuple[str, ...]:
    """Split a join key expression (a dotted path such as `customer.id` or `items.0.sku`) into segments."""
    parts = tuple(p.strip() for p in expression.split("."))
    if not expression.strip() or any(not p for p in parts):
        raise InvalidInputError(f"invalid joinKey {expression!r}: expected a dotted path like 'customer.id'")
    return parts


def extract_key(value: Any, path: Sequence[str], *, where: str) -> Any:
    """Follow `path` into `value` (dict keys, or list indexes for digit segments); no code is evaluated."""
    current = value
    for depth, part in enumerate(path):
        shown = ".".join(path[: depth + 1])
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            kind = type(current).__name__
            raise NodeExecutionError(f"joinKey '{'.'.join(path)}': {where} has no '{shown}' (found a {kind} there)")
    if isinstance(current, (dict, list)):
        raise NodeExecutionError(f"joinKey '{'.'.join(path)}': {where} has a {type(current).__name__} at that path; "
                                 "a join key must be a string, number, boolean or null")
    return current


def group_by_key(items: Sequence[tuple[str, Any]], path: Sequence[str]) -> dict[Any, list[Any]]:
    """Group `(label, item)` pairs by the key at `path` in each item, keeping input order inside a group."""
    groups: dict[Any, list[Any]] = {}
    for label, item in items:
        groups.setdefault(extract_key(item, path, where=label), []).append(item)
    return groups


@dataclass(frozen=True)
class SplitInfo:
    """A split node and the part of the DAG it instantiates."""

    node: str
    #: Nodes whose innermost scope is this split (one row of each per element).
    region: tuple[str, ...]
    #: Region nodes fed by the split alone: what an instance starts with (and what the concurrency cap holds).
    entries: tuple[str, ...]
    #: Nodes with `joinKey` that close this split.
    joins: tuple[str, ...]
    concurrency: int | None = None


@dataclass
class Inputs:
    """What a node receives: upstream results, join groups, or nothing at all (dropped)."""

    upstream: dict[str, Any] = field(default_factory=dict)
    groups: dict[Any, list[Any]] | None = None
    dropped: bool = False


class Dataflow:
    """Split/join/filter structure of one pipeline DAG, computed once and checked for soundness."""

    def __init__(self, dag: PipelineDag) -> None:
        self.dag = dag
        self.scope: dict[str, tuple[str, ...]] = {}
        #: join node -> the split whose scope it closes
        self.closes: dict[str, str] = {}
        self.keys: dict[str, tuple[str, ...]] = {}
        self._analyse()
        self.splits = {s: self._split_info(s) for s in dag.nodes if dag.node(s).split}

    # ------------------------------------------------------------------ analysis
    def _analyse(self) -> None:
        dag = self.dag
        problems: list[str] = []
        for name in dag.nodes:
            node = dag.node(name)
            if node.join_key is not None:
                try:
                    self.keys[name] = parse_key(node.join_key)
                except InvalidInputError as exc:
                    problems.append(f"node '{name}': {exc}")
            contributed = {p: self.scope[p] + ((p,) if dag.node(p).split else ()) for p in dag.predecessors(name)}
            scopes = set(contributed.values())
            if len(scopes) > 1:
                shown = ", ".join(f"{p} ({_scope_text(s)})" for p, s in contributed.items())
                problems.append(f"node '{name}' mixes inputs from different split scopes: {shown}; put a node with "
                                "'joinKey' after each split before combining them")
                self.scope[name] = min(scopes, key=len)
                continue
            scope = next(iter(scopes), ())
            if node.join_key is not None and scope:
                self.closes[name] = scope[-1]
                scope = scope[:-1]
            self.scope[name] = scope
        if problems:
            raise InvalidInputError(f"pipeline '{dag.pipeline.id}' has an unsound dataflow: " + "; ".join(problems))

    def _split_info(self, split: str) -> SplitInfo:
        inner = self.scope[split] + (split,)
        region = tuple(n for n in self.dag.nodes if self.scope[n] == inner)
        entries = tuple(n for n in region if self.dag.predecessors(n) == (split,))
        joins = tuple(n for n in self.dag.nodes if self.closes.get(n) == split)
        return SplitInfo(split, region, entries, joins, self.dag.node(split).split_concurrency)

    def depth(self, name: str) -> int:
        """How many splits enclose a node."""
        return len(self.scope[name])

    @property
    def top_level(self) -> list[str]:
        """Nodes outside every split scope: the rows a new run starts with."""
        return [n for n in self.dag.nodes if not self.scope[n]]

    def opener(self, name: str) -> str | None:
        """The split whose element a node receives directly (its innermost split, if it is an upstream)."""
        split = self.scope[name][-1] if self.scope[name] else None
        return split if split in self.dag.predecessors(name) else None

    def upstream_count(self, name: str) -> int:
        """Upstream completions a node's row waits for when it is created (a split's own output counts as done)."""
        opener = self.opener(name)
        return sum(1 for p in self.dag.predecessors(name) if p != opener)

    # ------------------------------------------------------------------ routing
    def _target(self, succ: str, instance: str) -> Pair:
        return succ, instance_prefix(instance, self.depth(succ))

    def targets(self, name: str, instance: str) -> dict[Pair, int]:
        """Rows a finished (non-split) node releases: same-instance successors, or its scope's join."""
        return dict(Counter(self._target(s, instance) for s in self.dag.successors(name)))

    def gates(self, instance: str, name: str) -> list[Gate]:
        """Concurrency gates to check when a row of `instance` finishes (every capped enclosing split)."""
        from pypeline.store.repository import Gate

        out: list[Gate] = []
        scope = self.scope[name]
        for level, split in enumerate(scope[: instance_depth(instance)], start=1):
            info = self.splits[split]
            if info.concurrency and info.entries:
                out.append(Gate(split=split, split_instance=instance_prefix(instance, level - 1),
                                instance=instance_prefix(instance, level), entries=info.entries))
        return out

    def success_plan(self, name: str, instance: str, result: Any) -> tuple[FinishPlan, dict[Pair, dict[str, Any]]]:
        """What finishing `name` successfully changes, and the inline upstream of rows it may make ready."""
        from pypeline.store.repository import FinishPlan

        if name in self.splits:
            return self._spawn_plan(name, instance, result)
        plan = FinishPlan(release=self.targets(name, instance), gates=self.gates(instance, name))
        inline = {pair: {name: result} for pair in plan.release
                  if self.dag.predecessors(pair[0]) == (name,) and not self.needs_store(pair[0])}
        return plan, inline

    def _spawn_plan(self, split: str, instance: str, items: list[Any]) -> tuple[FinishPlan, dict[Pair, dict[str, Any]]]:
        from pypeline.store.repository import FinishPlan, NodeSpec

        info = self.splits[split]
        cap = info.concurrency
        rows: list[NodeSpec] = []
        inline: dict[Pair, dict[str, Any]] = {}
        for index, item in enumerate(items):
            child = child_instance(instance, index)
            held = 1 if cap is not None and index >= cap else 0
            for name in info.region:
                node = self.dag.node(name)
                entry = name in info.entries
                rows.append(NodeSpec(name, node.handler, node.queue, self.upstream_count(name) + (held if entry else 0),
                                     child))
                if entry and not held:
                    inline[(name, child)] = {split: item}
        arm = {(j, instance): len(items) * sum(1 for p in self.dag.predecessors(j) if p != split)
               for j in info.joins}
        return FinishPlan(spawn=rows, arm=arm, gates=self.gates(instance, split)), inline

    def drop_plan(self, name: str, instance: str) -> FinishPlan:
        """Filter rule: `name` produced nothing, so nodes fed only by dropped nodes are skipped too."""
        from pypeline.store.repository import FinishPlan

        dag = self.dag
        scope = self.scope[name]
        dropped = {name}
        for d in dag.descendants(name):
            if self.scope[d] != scope:
                continue
            opener = self.closes.get(d)
            if opener is not None:
                if opener in dropped:
                    dropped.add(d)  # the split itself produced nothing: no collection to join
            elif all(p in dropped for p in dag.predecessors(d)):
                dropped.add(d)
        release: Counter[Pair] = Counter()
        for x in dropped:
            region = set(self.splits[x].region) if x in self.splits else set()
            for s in dag.successors(x):
                if s not in dropped and s not in region:
                    release[self._target(s, instance)] += 1
        skip = [(d, instance) for d in dag.nodes if d in dropped and d != name]
        return FinishPlan(release=dict(release), skip=skip, gates=self.gates(instance, name))

    def failure_plan(self, name: str, instance: str) -> FinishPlan:
        """Failure rule: every existing downstream row (this instance, and enclosing joins) is skipped."""
        from pypeline.store.repository import FinishPlan

        scope = self.scope[name]
        skip = [(d, instance_prefix(instance, self.depth(d))) for d in self.dag.descendants(name)
                if scope[: self.depth(d)] == self.scope[d]]
        return FinishPlan(skip=skip, gates=self.gates(instance, name))

    # ------------------------------------------------------------------ inputs
    def needs_store(self, name: str) -> bool:
        """True when a node's inputs must be read from the store (fan-in, join, or no inline value)."""
        return len(self.dag.predecessors(name)) > 1 or name in self.closes or name in self.keys

    def pred_pairs(self, name: str, instance: str) -> list[Pair]:
        """The rows holding a (non-join) node's upstream results; the opening split's row for a split's element."""
        return [(p, instance_prefix(instance, self.depth(p))) for p in self.dag.predecessors(name)]

    def resolve(self, name: str, instance: str, rows: dict[Pair, tuple[str, Any]]) -> Inputs:
        """A (non-join) node's inputs from its predecessors' rows `(status, result)`; dropped if all were.

        The opening split's row holds this instance's element, not the whole list (see `pred_pairs`).
        """
        upstream: dict[str, Any] = {}
        dropped = 0
        preds = self.dag.predecessors(name)
        for pred, pair in zip(preds, self.pred_pairs(name, instance), strict=True):
            status, value = rows.get(pair, ("PENDING", None))
            if status == "SKIPPED":
                dropped += 1
                continue
            if status != "SUCCESS":
                raise NodeExecutionError(f"upstream node '{pred}' of '{name}' is {status}, not finished")
            upstream[pred] = value
        inputs = Inputs(upstream=upstream, dropped=bool(preds) and dropped == len(preds))
        if name in self.keys and not inputs.dropped:
            inputs.groups = group_by_key([(f"upstream node '{p}'", v) for p, v in upstream.items()], self.keys[name])
        return inputs

    def resolve_join(self, name: str, instance: str, split_result: list[Any],
                     instance_rows: list[tuple[str, str, str, Any]]) -> Inputs:
        """A split join's inputs: per upstream node, the list of instance results (dropped ones left out)."""
        split = self.closes[name]
        preds = self.dag.predecessors(name)
        per_instance: dict[int, dict[str, Any]] = {}
        for index, item in enumerate(split_result if split in preds else []):
            per_instance.setdefault(index, {})[split] = item
        for node, inst, status, value in instance_rows:
            if status == "SUCCESS":
                per_instance.setdefault(instance_index(inst), {})[node] = value
        ordered = [(i, per_instance[i]) for i in sorted(per_instance)]
        upstream = {p: [vals[p] for _, vals in ordered if p in vals] for p in preds}
        items: list[tuple[str, Any]] = []
        for index, vals in ordered:
            label = f"instance {child_instance(instance, index)}"
            if len(preds) == 1:
                if preds[0] in vals:
                    items.append((f"{label} of node '{preds[0]}'", vals[preds[0]]))
            elif vals:
                items.append((label, vals))
        return Inputs(upstream=upstream, groups=group_by_key(items, self.keys[name]))

    # ------------------------------------------------------------------ rerun
    def rerun_plan(self, rows: list[tuple[str, str, str, str | None]]) -> dict[Pair, int]:
        """Rows to run again `(node, instance) -> upstream completions awaited`, from `(node, instance, status, error)`.

        Done rows are SUCCESS, or SKIPPED with no error (filtered out); everything else runs again. A capped
        split's instances are held again so no more than the cap run at once.
        """
        done = {(n, i) for n, i, s, e in rows if s == "SUCCESS" or (s == "SKIPPED" and e is None)}
        redo = [(n, i) for n, i, s, e in rows if (n, i) not in done]
        existing = {(n, i) for n, i, _, _ in rows}
        plan: dict[Pair, int] = {}
        for name, inst in redo:
            if name in self.closes:
                split = self.closes[name]
                if (split, inst) in done:
                    preds = self.dag.predecessors(name)
                    plan[(name, inst)] = sum(1 for n, i in redo
                                             if n in preds and instance_prefix(i, self.depth(split)) == inst)
                else:
                    plan[(name, inst)] = max(1, len(self.dag.predecessors(name)))
                continue
            opener = self.opener(name)
            pairs = zip(self.dag.predecessors(name), self.pred_pairs(name, inst), strict=True)
            plan[(name, inst)] = sum(1 for p, pair in pairs if p != opener and pair in existing and pair not in done)
        self._hold_capped(plan, done)
        return plan

    def _hold_capped(self, plan: dict[Pair, int], done: set[Pair]) -> None:
        for split, info in self.splits.items():
            if not info.concurrency or not info.entries:
                continue
            groups: dict[str, dict[str, bool]] = {}  # split's instance -> {element instance: already started}
            for name, inst in plan:
                if name in info.region:
                    started = any((e, inst) in done for e in info.entries)
                    groups.setdefault(instance_prefix(inst, self.depth(split)), {})[inst] = started
            for instances in groups.values():
                slots = info.concurrency - sum(instances.values())
                for inst in sorted((i for i, started in instances.items() if not started), key=instance_index):
                    if slots > 0:
                        slots -= 1
                        continue
                    for entry in info.entries:
                        plan[(entry, inst)] += 1


def dataflow_issues(config: PypelineConfig) -> list[ConfigIssue]:
    """Dataflow soundness problems (split scopes, join keys) of every event-engine pipeline, as config issues."""
    issues = []
    for pipeline in config.pipelines.values():
        if pipeline.engine != "event":
            continue
        try:
            Dataflow(PipelineDag(pipeline))
        except InvalidInputError as exc:
            issues.append(ConfigIssue(str(exc), path=f"pipelines.{pipeline.id}.config.dagAdjacency", file=config.path,
                                      code=codes.DATAFLOW.id))
    return issues


def _scope_text(scope: tuple[str, ...]) -> str:
    return "inside split " + " > ".join(scope) if scope else "outside any split"
