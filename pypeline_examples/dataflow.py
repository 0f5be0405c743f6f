"""Handlers of the dataflow pipelines in sermos.yaml.example: split, filter, keyed join, async, typed payloads.

The second half holds small instrumented handlers (tracing, sleeping, failing on demand) that the engine
tests run in real worker processes; they are importable by path like any user handler.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, Field

from pypeline.tasks.context import emit, events

__all__ = [
    "Customer",
    "Order",
    "OrdersPayload",
    "PriceEvent",
    "load_orders",
    "validate_order",
    "price_order",
    "totals_by_customer",
    "publish_report",
    "numbers",
    "keep_even",
    "from_payload",
    "square",
    "square_async",
    "expand",
    "collect",
    "sum_by_parity",
    "describe_typed",
    "describe_dataclass",
    "trace",
    "sleepy",
    "fail_unless_file",
    "fail_odd_unless_file",
    "stubborn",
    "whereami",
    "emit_progress",
    "read_progress",
    "touch",
    "python_pipelines",
]


# ---------------------------------------------------------------------------------------------- orders demo
class Customer(BaseModel):
    """A customer reference inside an order."""

    id: str
    name: str = ""


class Order(BaseModel):
    """One order as produced by `load_orders`."""

    id: int
    customer: Customer
    amount: float = Field(ge=0)


class OrdersPayload(BaseModel):
    """The invocation payload of the `orders` pipeline."""

    orders: list[dict[str, Any]] | None = None
    count: int = Field(default=6, ge=0, le=10_000)


class PriceEvent(BaseModel):
    """What `price_order` needs from its event: the validated order from upstream."""

    node: str
    instance: str = ""
    upstream: dict[str, Order]


def load_orders(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Split node: the orders to process (from the payload, or `count` generated ones); one instance each."""
    payload = OrdersPayload.model_validate(event.get("chain_payload") or {})
    if payload.orders is not None:
        return payload.orders
    return [{"id": i, "customer": {"id": f"c{i % 3}", "name": f"customer {i % 3}"}, "amount": float(i * 10 - 10)}
            for i in range(payload.count)]


def validate_order(event: dict[str, Any]) -> dict[str, Any] | None:
    """Filter node: drop orders with no amount (returns None), pass the others on unchanged."""
    order = event["upstream"]["load_orders"]
    return order if order.get("amount", 0) > 0 else None


async def price_order(event: PriceEvent) -> dict[str, Any]:
    """Async, typed node: price one order (the event is validated into a `PriceEvent` on entry)."""
    order = event.upstream["validate_order"]
    await asyncio.sleep(0)  # stands in for an async I/O call (HTTP, database)
    emit("priced", {"order": order.id, "instance": event.instance})
    return {"order": order.id, "customer": order.customer.model_dump(), "total": round(order.amount * 1.2, 2)}


def totals_by_customer(event: dict[str, Any]) -> dict[str, Any]:
    """Join node (`joinKey: customer.id`): `event["groups"]` maps each customer id to its priced orders."""
    return {cid: {"orders": sorted(p["order"] for p in priced), "total": round(sum(p["total"] for p in priced), 2)}
            for cid, priced in sorted(event["groups"].items())}


def publish_report(event: dict[str, Any]) -> dict[str, Any]:
    """After the join: one report, plus how many `priced` events the instances emitted."""
    totals = event["upstream"]["totals_by_customer"]
    return {"customers": len(totals), "grand_total": round(sum(t["total"] for t in totals.values()), 2),
            "priced_events": len(events("priced"))}


# ------------------------------------------------------------------------------------ small dataflow pieces
def numbers(event: dict[str, Any]) -> list[int]:
    """Split node: `[0, 1, ..., n-1]` for `chain_payload.n` (default 4)."""
    return list(range(int((event.get("chain_payload") or {}).get("n", 4))))


def _value(event: dict[str, Any]) -> Any:
    upstream = event["upstream"]
    return next(iter(upstream.values())) if len(upstream) == 1 else upstream


def keep_even(event: dict[str, Any]) -> int | None:
    """Filter node: pass even numbers on, drop odd ones (None)."""
    value = _value(event)
    return value if value % 2 == 0 else None


def from_payload(event: dict[str, Any]) -> Any:
    """`chain_payload[<this node's name>]`; None when absent (dropped under `filter: true`)."""
    return _payload(event).get(event["node"])


def square(event: dict[str, Any]) -> dict[str, int]:
    """`{"n": x, "sq": x*x, "parity": "even"|"odd"}` of the upstream number."""
    value = _value(event)
    value = value["n"] if isinstance(value, dict) else value
    return {"n": value, "sq": value * value, "parity": "even" if value % 2 == 0 else "odd"}


async def square_async(event: dict[str, Any]) -> dict[str, Any]:
    """Async version of `square`, also reporting that it ran inside an event loop."""
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    return {**square(event), "loop": type(loop).__name__}


def expand(event: dict[str, Any]) -> list[int]:
    """Nested split node: upstream number x becomes `[10x, 10x+1, ..., 10x+x]`."""
    value = _value(event)
    return [value * 10 + k for k in range(value + 1)]


def collect(event: dict[str, Any]) -> dict[str, Any]:
    """Generic join node: the groups it received, tagged so an outer join can group by `kind`."""
    return {"kind": "collected", "groups": event["groups"]}


def sum_by_parity(event: dict[str, Any]) -> dict[str, Any]:
    """Join node (`joinKey: parity`): total of squares per parity group."""
    return {key: sum(item["sq"] for item in items) for key, items in sorted(event["groups"].items())}


class CountPayload(BaseModel):
    """Payload shape expected by `describe_typed`."""

    count: int
    label: str = "items"


class TypedEvent(BaseModel):
    """Event shape expected by `describe_typed`."""

    node: str
    chain_payload: CountPayload


def describe_typed(event: TypedEvent) -> str:
    """Typed node (pydantic): a payload without an integer `count` fails this node with a clear error."""
    return f"{event.node}: {event.chain_payload.count} {event.chain_payload.label}"


@dataclass
class DataclassEvent:
    """Event shape expected by `describe_dataclass`."""

    node: str
    chain_payload: dict[str, int]


def describe_dataclass(event: DataclassEvent) -> str:
    """Typed node (dataclass): `chain_payload` must map names to integers."""
    return f"{event.node}: {sum(event.chain_payload.values())}"


# --------------------------------------------------------------------------------- instrumented test helpers
def _payload(event: dict[str, Any]) -> dict[str, Any]:
    payload = event.get("chain_payload")
    return payload if isinstance(payload, dict) else {}


def _label(event: dict[str, Any]) -> str:
    return event["node"] + (f"[{event['instance']}]" if event.get("instance") else "")


def _note(event: dict[str, Any], what: str) -> None:
    """Append `<node>[<instance>] <what>` to the file named by `chain_payload.trace`, if any."""
    path = _payload(event).get("trace")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{_label(event)} {what}\n")


def trace(event: dict[str, Any]) -> dict[str, Any]:
    """Record the call in the trace file; return what reached the node."""
    _note(event, "ran")
    return {"node": event["node"], "saw": sorted(event.get("upstream") or {})}


def sleepy(event: dict[str, Any]) -> dict[str, Any]:
    """Record start, sleep `chain_payload.sleep` seconds (default 1), record the end."""
    _note(event, "start")
    time.sleep(float(_payload(event).get("sleep", 1)))
    _note(event, "end")
    return {"node": event["node"], "slept": _payload(event).get("sleep", 1)}


def fail_unless_file(event: dict[str, Any]) -> str:
    """Fail unless the file named by `chain_payload.gate` exists (to fail a run, then rerun it)."""
    _note(event, "ran")
    gate = _payload(event).get("gate")
    if not gate or not os.path.exists(gate):
        raise RuntimeError(f"gate file {gate!r} does not exist yet")
    return "gate open"


def fail_odd_unless_file(event: dict[str, Any]) -> int:
    """Pass the upstream number on; odd numbers fail until the file named by `chain_payload.gate` exists."""
    _note(event, "ran")
    value = _value(event)
    gate = _payload(event).get("gate")
    if value % 2 and not (gate and os.path.exists(gate)):
        raise RuntimeError(f"odd value {value} and gate file {gate!r} does not exist yet")
    return value


def stubborn(event: dict[str, Any]) -> str:
    """Ignore the soft time limit and keep working (only the hard time limit stops it)."""
    _note(event, "start")
    deadline = time.monotonic() + float(_payload(event).get("sleep", 30))
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            _note(event, "ignored soft limit")
    return "finished"


def whereami(event: dict[str, Any]) -> dict[str, Any]:
    """The queue (routing key) and priority the node's message was delivered with."""
    info = dict(current_task.request.delivery_info or {})
    return {"queue": info.get("routing_key"), "priority": info.get("priority"), "pid": os.getpid()}


def emit_progress(event: dict[str, Any]) -> str:
    """Emit `progress` events at 50 and 100 percent."""
    emit("progress", {"pct": 50})
    emit("progress", {"pct": 100})
    return "emitted"


def read_progress(event: dict[str, Any]) -> list[Any]:
    """Read the `progress` events earlier nodes emitted on this run."""
    return [e["data"]["pct"] for e in events("progress")]


def touch(path: str | os.PathLike[str]) -> None:
    """Create a file (test helper: opens a `fail_unless_file` gate)."""
    Path(path).touch()


# ------------------------------------------------------------------------------------------ Python API
def python_pipelines() -> list[Any]:
    """The `orders` dataflow built with the Python API (`python -m pypeline.pipeline
    pypeline_examples.dataflow:python_pipelines` prints it as sermos.yaml for workers)."""
    from pypeline.pipeline import Pipeline

    orders = (
        Pipeline("orders_py", description="orders, built in Python", queue="pypeline-demo", max_retry=0)
        .add_node("load_orders", load_orders, split=True, split_concurrency=4)
        .add_node("validate_order", validate_order, filter=True)
        .add_node("price_order", price_order, max_ttl=30)
        .add_node("totals_by_customer", totals_by_customer, join_key="customer.id")
        .add_node("publish_report", publish_report)
        .chain("load_orders", "validate_order", "price_order", "totals_by_customer", "publish_report")
    )
    return [orders]
