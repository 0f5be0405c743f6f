"""The fault-suite harness: one scenario = a unique queue, its workers, a client runtime and the side-effect
file; helpers to wait from the store through outages, kill whole workers, and check a run from the store."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError

from pypeline.errors import StoreError
from pypeline.runtime import Runtime
from pypeline.settings import Settings
from pypeline.status import TERMINAL
from tests.faults.jobs import EFFECTS_ENV
from tests.helpers import ROOT, WorkerProcess, wait_until

__all__ = ["PIPELINES", "CHAIN20", "DEADLINE_AFTER_FAULT", "Effects", "Scenario", "HasLog", "run_parallel",
           "touched_between"]

PIPELINES = Path(__file__).parent / "pipelines.yaml"
CHAIN20 = [f"n{i:02d}" for i in range(20)]
#: Issue 10's promise: every run terminal within this many seconds of the fault clearing, default settings.
DEADLINE_AFTER_FAULT = 60.0
#: Store errors that mean "the database is restarting or down": the test's own reads retry through them
#: (StoreError: what the store may wrap a transient error in once it retries by itself).
_STORE_DOWN = (DBAPIError, OSError, StoreError)
T = TypeVar("T")


class HasLog(Protocol):
    """A private service whose log goes into failure reports."""

    def log(self) -> str:
        """The service's output."""
        ...


def run_parallel(*jobs: Callable[[], None]) -> None:
    """Run independent scenarios in threads (their waits overlap); raise every failure, not just the first."""
    errors: list[str] = []

    def _wrap(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException:  # noqa: BLE001 - collected and re-raised below with the scenario's name
            errors.append(f"--- {getattr(job, '__name__', job)} ---\n{traceback.format_exc()}")

    threads = [threading.Thread(target=_wrap, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AssertionError("\n".join(errors))


@dataclass(frozen=True)
class Execution:
    """One line of the side-effect file."""

    what: str  # start | end | fail
    run_id: str
    node: str
    instance: str
    attempt: int
    pid: int
    token: str
    at: float


class Effects:
    """The side-effect file the handlers append to: what REALLY ran, whatever the store says."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self, run_ids: Iterable[str] | None = None) -> list[Execution]:
        """Parsed lines (of the given runs only, if any)."""
        if not self.path.exists():
            return []
        wanted = set(run_ids) if run_ids is not None else None
        out = []
        for raw in self.path.read_text().splitlines():
            parts = raw.split()
            if len(parts) != 8:
                continue  # a line being written right now
            what, run_id, node, inst, attempt, pid, token, at = parts
            if wanted is None or run_id in wanted:
                out.append(Execution(what, run_id, node, "" if inst == "-" else inst,
                                     int(attempt) if attempt.isdigit() else 0, int(pid), token, float(at)))
        return out

    def starts(self, run_id: str) -> Counter[str]:
        """How many times each node's handler started in a run."""
        return Counter(e.node for e in self.lines([run_id]) if e.what == "start")

    def end_tokens(self, run_id: str) -> dict[str, set[str]]:
        """Tokens of the executions that completed, by node."""
        out: dict[str, set[str]] = defaultdict(set)
        for e in self.lines([run_id]):
            if e.what == "end":
                out[e.node].add(e.token)
        return out

    def running(self, run_id: str, node: str) -> Execution | None:
        """The latest start of `node` that has not ended (yet)."""
        done = {e.token for e in self.lines([run_id]) if e.what != "start" and e.node == node}
        open_ = [e for e in self.lines([run_id]) if e.what == "start" and e.node == node and e.token not in done]
        return open_[-1] if open_ else None


def touched_between(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Nodes a fault may have hit: not finished before it, already released (not PENDING) after it.

    Every other node either finished before the fault or was dispatched once the fault had cleared, so it
    must have run exactly once.
    """
    return {n for n, status in after.items() if before.get(n) != "SUCCESS" and status != "PENDING"}


@dataclass
class Scenario:
    """One fault scenario: its own queue(s), workers, client runtime and side-effect file."""

    name: str
    tmp: Path
    broker_url: str
    database_url: str
    start_worker: Callable[..., WorkerProcess]
    services: dict[str, HasLog] = field(default_factory=dict)
    queue: str = ""
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    invoked: list[str] = field(default_factory=list)
    #: Client-side settings (e.g. dyrygent's tick); never a lease, visibility or timeout setting.
    client_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = self.queue or f"faults-{self.name}-{uuid.uuid4().hex[:8]}"
        self.dir = self.tmp / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "pipelines.yaml"
        self.config.write_text(PIPELINES.read_text().replace("QUEUE", self.queue))
        self.effects = Effects(self.dir / "effects.log")
        self.home = self.dir / "home"
        settings = Settings(config_path=str(self.config), broker_url=self.broker_url, broker_configured=True,
                            database_url=self.database_url, home=self.home, **self.client_settings)
        self.rt = Runtime.from_path(str(self.config), settings, register=False)

    @property
    def queues(self) -> list[str]:
        """Every queue the scenario's pipelines use (node queue and dyrygent processor queue)."""
        return [self.queue, f"{self.queue}-proc"]

    # ------------------------------------------------------------------ workers
    def worker_env(self) -> dict[str, str]:
        """Environment of the scenario's workers: no setting shortened, handlers importable from the repo."""
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {"PYTHONPATH": path, EFFECTS_ENV: str(self.effects.path), "PYPELINE_HOME": str(self.home)}

    def start_workers(self, *names: str, concurrency: int = 1) -> list[WorkerProcess]:
        """Start `pypeline worker FILE --broker --database -c N -Q queues -n NAME@%h`, in parallel; wait ready."""
        started = []
        for name in names:
            worker = self.start_worker(
                self.config, "--broker", self.broker_url, "--database", self.database_url,
                "-c", str(concurrency), "-Q", ",".join(self.queues), "-n", f"{name}-{self.queue}@%h",
                env=self.worker_env(), ready=False)
            self.workers[name] = worker
            started.append(worker)
        for worker in started:
            worker.wait_for_log("ready.", timeout=90)
        return started

    def kill_worker(self, name: str) -> None:
        """kill -9 the worker's whole process group (main process and pool children) and reap it.

        The dead worker stays in reports as `NAME~killedN`; `start_workers(NAME)` may restart it (same name).
        """
        worker = self.workers.pop(name)
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        self.workers[f"{name}~killed{sum(1 for k in self.workers if k.startswith(name + '~')) + 1}"] = worker

    def count_nodes(self, run_ids: list[str], statuses: Iterable[str]) -> int:
        """How many node rows of these runs have one of `statuses`."""
        return len(self.nodes_with(run_ids, statuses))

    def nodes_with(self, run_ids: list[str], statuses: Iterable[str]) -> list[tuple[str, str]]:
        """(run id, node) of the rows of these runs that have one of `statuses`."""
        import sqlalchemy as sa

        from pypeline.store.models import NodeRun

        table, wanted = NodeRun.__table__, list(statuses)

        def _read() -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            with self.rt.store.engine.connect() as conn:
                for i in range(0, len(run_ids), 500):
                    out += [(r, n) for r, n in conn.execute(sa.select(table.c.run_id, table.c.node).where(
                        table.c.run_id.in_(run_ids[i:i + 500]), table.c.status.in_(wanted)))]
            return out

        return self.read(_read)

    def worker_of(self, pid: int) -> str:
        """The name of the worker whose process group holds `pid` (a pool child that ran a handler)."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            group = -1
        for name, worker in self.workers.items():
            if worker.proc.pid == group and worker.proc.poll() is None:
                return name
        raise AssertionError(f"pid {pid} belongs to no live worker of {self.name}\n{self.report()}")

    # ------------------------------------------------------------------ store reads that ride through outages
    def read(self, fn: Callable[[], T], timeout: float = 90.0) -> T:
        """Call a store read, retrying while the database is down (the suite's own view must not flake)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return fn()
            except _STORE_DOWN:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def invoke(self, pipeline: str, payload: Any = None) -> str:
        """Start a run through the service layer (as the API and CLI do); remembered for reports."""
        from pypeline.services.invoke import invoke

        run_id = invoke(self.rt, pipeline, payload, origin="faults")
        self.invoked.append(run_id)
        return run_id

    def statuses(self, run_id: str) -> dict[str, str]:
        """Node -> status of a run (top-level rows)."""
        return self.read(lambda: self.rt.store.node_statuses(run_id))

    def run_status(self, run_id: str) -> str:
        """The run's status."""
        return self.read(lambda: self.rt.store.get_run(run_id)["status"])

    def wait_status(self, run_id: str, node: str, wanted: str | set[str], timeout: float = 60.0) -> None:
        """Block until `node` has one of the `wanted` statuses."""
        wanted = {wanted} if isinstance(wanted, str) else wanted
        wait_until(lambda: self.statuses(run_id).get(node) in wanted, timeout,
                   message=f"{self.name}: node {node} of run {run_id} {sorted(wanted)}",
                   report=lambda: self.report([run_id]))

    def wait_started(self, run_id: str, node: str, timeout: float = 60.0) -> Execution:
        """Block until `node`'s handler is executing (its start line is written, no end yet)."""
        return wait_until(lambda: self.effects.running(run_id, node), timeout,
                          message=f"{self.name}: handler of {node} in run {run_id} started",
                          report=lambda: self.report([run_id]))

    def wait_terminal(self, run_ids: Iterable[str], since: float, within: float = DEADLINE_AFTER_FAULT) -> None:
        """Block until every run is terminal, at most `within` seconds after `since` (time.monotonic())."""
        pending = list(run_ids)
        terminal = {s.value for s in TERMINAL}

        def done() -> bool:
            statuses = self.read(lambda: {r["id"]: r["status"] for r in self._runs(pending)})
            pending[:] = [r for r in pending if statuses.get(r) not in terminal]
            return not pending

        wait_until(done, max(since + within - time.monotonic(), 0.0),
                   message=f"{self.name}: every run terminal within {within:.0f} s of the fault clearing",
                   report=lambda: f"{len(pending)} run(s) not terminal\n" + self.report(pending[:5]))

    def _runs(self, run_ids: list[str]) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        from pypeline.store.models import PipelineRun

        table = PipelineRun.__table__
        out: list[dict[str, Any]] = []
        with self.rt.store.engine.connect() as conn:
            for i in range(0, len(run_ids), 500):
                rows = conn.execute(sa.select(table.c.id, table.c.status)
                                    .where(table.c.id.in_(run_ids[i:i + 500]))).mappings()
                out.extend(dict(r) for r in rows)
        return out

    # ------------------------------------------------------------------ the verdict, from the store
    def check_clean_run(self, run_id: str, nodes: list[str], touched: set[str] | None = None) -> None:
        """Assert from the store and the side-effect file that a faulted run ended as if nothing happened.

        Run SUCCESS; one row per node, every row SUCCESS with no error (an infrastructure fault is never a
        node failure); each recorded result is the token of an execution that completed (exactly-once
        recording); nodes the fault did not touch ran and were dispatched exactly once (attempts 1, one
        start); touched nodes ran at most 3 times (at-least-once, bounded).
        """
        problems = self.run_problems(run_id, nodes, touched)
        if problems:
            raise AssertionError(f"{self.name}: run {run_id} is not clean:\n  " + "\n  ".join(problems)
                                 + "\n" + self.report([run_id]))

    def run_problems(self, run_id: str, nodes: list[str], touched: set[str] | None = None) -> list[str]:
        """What `check_clean_run` would complain about (empty: clean)."""
        touched = touched or set()
        problems: list[str] = []
        run = self.read(lambda: self.rt.store.get_run(run_id))
        if run["status"] != "SUCCESS":
            problems.append(f"run is {run['status']} (failed node {run.get('failed_node')}: {run.get('error')})")
        rows = self.read(lambda: self.rt.store.node_runs(run_id))
        count = Counter(r["node"] for r in rows)
        problems += [f"node {n} has {c} rows" for n, c in count.items() if c != 1]
        if set(count) != set(nodes):
            problems.append(f"node rows {sorted(count)} != pipeline nodes {sorted(nodes)}")
        starts, tokens = self.effects.starts(run_id), self.effects.end_tokens(run_id)
        for row in rows:
            node = row["node"]
            if row["status"] != "SUCCESS" or row["error"]:
                problems.append(f"node {node} is {row['status']} with error {(row['error'] or '')[:300]!r}")
                continue
            token = (row["result"] or {}).get("token") if isinstance(row["result"], dict) else None
            if token not in tokens.get(node, set()):
                problems.append(f"node {node}: recorded result {row['result']!r} is not from an execution that "
                                f"completed (completed: {sorted(tokens.get(node, set()))})")
            if node in touched:
                if not 1 <= starts[node] <= 3:
                    problems.append(f"node {node} (hit by the fault) started {starts[node]} times")
            elif starts[node] != 1 or row["attempts"] != 1:
                problems.append(f"node {node} (not hit by the fault) was dispatched {starts[node]} times, "
                                f"{row['attempts']} attempts in the store: expected exactly once")
        return problems

    # ------------------------------------------------------------------ failure evidence
    def report(self, run_ids: Iterable[str] | None = None, log_tail: int = 4000) -> str:
        """Runs, node rows, side effects, worker and service logs: everything needed to debug a failure."""
        ids = list(run_ids) if run_ids is not None else self.invoked[-3:]
        out = [f"===== scenario {self.name} (queue {self.queue}, broker {self.broker_url}, "
               f"store {self.database_url})"]
        for run_id in ids:
            try:
                run = self.rt.store.get_run(run_id)
                out.append(f"--- run {run_id}: {run['status']} attempt={run['attempt']} "
                           f"nodes_left={run['nodes_left']} failed_node={run['failed_node']} error={run['error']}")
                for r in self.rt.store.node_runs(run_id):
                    out.append(f"    {r['node']}{'[' + r['instance'] + ']' if r['instance'] else ''}: "
                               f"{r['status']} attempts={r['attempts']} retries={r['retries']} "
                               f"task={r['task_id']} updated={r['updated_at']} error={(r['error'] or '')[:300]}")
            except Exception as exc:  # noqa: BLE001 - the report must not hide the original failure
                out.append(f"--- run {run_id}: store unreadable ({type(exc).__name__}: {exc})")
            lines = [f"    {e.what} {e.node} attempt={e.attempt} pid={e.pid} token={e.token} t={e.at:.3f}"
                     for e in self.effects.lines([run_id])]
            out.append("  side effects:\n" + "\n".join(lines[-60:]))
        for name, worker in self.workers.items():
            state = "alive" if worker.proc.poll() is None else f"exited {worker.proc.returncode}"
            out.append(f"--- worker {name} (pid {worker.proc.pid}, {state}) log tail:\n{worker.log()[-log_tail:]}")
        for name, service in self.services.items():
            out.append(f"--- {name} log tail:\n{service.log()[-log_tail // 2:]}")
        return "\n".join(out)

    def stop_workers(self) -> None:
        """Kill every live worker's process group at the end of a test (nothing in them is needed any more;
        a warm shutdown costs seconds per worker on a busy machine)."""
        for worker in self.workers.values():
            if worker.proc.poll() is None:
                try:
                    os.killpg(worker.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for worker in self.workers.values():
            try:
                worker.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        """Delete the scenario's queues on RabbitMQ (shared broker: leave nothing behind)."""
        if not self.broker_url.startswith("amqp"):
            return
        from kombu import Connection

        try:
            with Connection(self.broker_url, connect_timeout=5) as conn:
                channel = conn.default_channel
                for queue in self.queues:
                    try:
                        channel.queue_delete(queue)
                    except Exception:  # noqa: BLE001 - a queue never declared raises and closes the channel
                        channel = conn.channel()
        except Exception:  # noqa: BLE001 - cleanup is best effort; a leftover empty queue harms nobody
            pass
