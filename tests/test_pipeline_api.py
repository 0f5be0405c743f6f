"""The Python API: pipelines built in Python validate like YAML ones, emit YAML for workers, and run."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from pypeline.config import load_config
from pypeline.config.loader import load_config_text
from pypeline.errors import ConfigError, InvalidInputError
from pypeline.pipeline import Pipeline, build_config, handler_path, load_pipelines, main, runtime_for, to_yaml
from pypeline.services.invoke import invoke
from pypeline.settings import Settings
from pypeline_examples import dataflow as df
from tests.helpers import EXAMPLE

YAML = """
pipelines:
  orders:
    name: orders
    schemaVersion: 1
    config:
      metadata: {queue: q, maxRetry: 0}
      dagAdjacency:
        load_orders: [validate_order]
        validate_order: [price_order]
        price_order: [totals_by_customer]
      taskDefinitions:
        load_orders: {handler: pypeline_examples.dataflow.load_orders, split: true, splitConcurrency: 4}
        validate_order: {handler: pypeline_examples.dataflow.validate_order, filter: true}
        price_order: {handler: pypeline_examples.dataflow.price_order, maxTtl: 30, priority: 3}
        totals_by_customer: {handler: pypeline_examples.dataflow.totals_by_customer, joinKey: customer.id}
"""


def _orders() -> Pipeline:
    return (Pipeline("orders", queue="q", max_retry=0)
            .add_node("load_orders", df.load_orders, split=True, split_concurrency=4)
            .add_node("validate_order", "pypeline_examples.dataflow.validate_order", filter=True)
            .add_node("price_order", df.price_order, max_ttl=30, priority=3)
            .add_node("totals_by_customer", df.totals_by_customer, join_key="customer.id")
            .chain("load_orders", "validate_order", "price_order", "totals_by_customer"))


def test_builder_gives_the_same_config_as_yaml() -> None:
    built = _orders().to_config()
    loaded = load_config_text(YAML).pipeline("orders")
    assert built == loaded
    node = built.nodes["load_orders"]
    assert node.split and node.split_concurrency == 4 and node.handler == "pypeline_examples.dataflow.load_orders"
    assert built.nodes["totals_by_customer"].join_key == "customer.id" and built.nodes["price_order"].priority == 3


def test_from_dict_takes_a_sermos_entry_and_functions() -> None:
    entry = yaml.safe_load(YAML)["pipelines"]["orders"]
    entry["config"]["taskDefinitions"]["load_orders"]["handler"] = df.load_orders
    assert Pipeline.from_dict(entry).to_config() == _orders().to_config()
    example = yaml.safe_load(EXAMPLE.read_text())["pipelines"]["orders"]
    assert Pipeline.from_dict(example).to_config() == load_config(EXAMPLE).pipeline("orders")


def test_handlers_must_be_importable_functions() -> None:
    assert handler_path(df.trace) == "pypeline_examples.dataflow.trace"
    assert handler_path("  pkg.mod.fn ") == "pkg.mod.fn"
    with pytest.raises(InvalidInputError, match="not defined at module level"):
        handler_path(lambda event: event)

    def nested(event: dict) -> None:
        """Not importable by path."""

    with pytest.raises(InvalidInputError, match="not defined at module level"):
        handler_path(nested)
    nested.__qualname__, nested.__module__ = "nested", "__main__"
    with pytest.raises(InvalidInputError, match="__main__, which workers cannot import"):
        handler_path(nested)
    with pytest.raises(InvalidInputError, match="must be a function or a dotted path"):
        handler_path(42)  # type: ignore[arg-type]


def test_bad_options_and_shapes_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown node option 'max_tll'; did you mean 'max_ttl'"):
        Pipeline("p").add_node("a", df.trace, max_tll=3)
    with pytest.raises(InvalidInputError, match="unknown pipeline option 'engin'"):
        Pipeline("p", engin="event")
    assert Pipeline("p").add_node("a", df.trace, maxTtl=5).to_config().nodes["a"].max_ttl == 5  # YAML spelling
    with pytest.raises(InvalidInputError, match="already has a node 'a'"):
        Pipeline("p").add_node("a", df.trace).add_node("a", df.trace)
    with pytest.raises(InvalidInputError, match="two pipelines have the id 'p'"):
        build_config([Pipeline("p").add_node("a", df.trace), Pipeline("p").add_node("a", df.trace)])


def test_the_config_validator_checks_python_pipelines_too() -> None:
    with pytest.raises(ConfigError) as err:
        Pipeline("p").add_node("a", df.trace, max_ttl=0).add_edge("a", "b").to_config()
    text = str(err.value)
    assert "pipelines.p.config.taskDefinitions.a.maxTtl" in text
    assert "points to unknown node 'b'" in text
    with pytest.raises(ConfigError, match="could not be imported"):
        Pipeline("p").add_node("a", "pypeline_examples.nope.fn").to_config()
    with pytest.raises(ConfigError, match="engine 'dyrygent' does not support 'split'"):
        Pipeline("p", engine="dyrygent").add_node("a", df.numbers, split=True).to_config()
    with pytest.raises(InvalidInputError, match="mixes inputs from different split scopes"):
        (Pipeline("p").add_node("s", df.numbers, split=True).add_node("x", df.trace).add_node("y", df.trace)
         .add_node("z", df.trace).add_edge("s", "y").add_edge("y", "z").add_edge("x", "z").to_config())


def test_yaml_for_workers_round_trips(tmp_path: Path) -> None:
    text = to_yaml(df.python_pipelines())
    assert load_config_text(text).pipeline("orders_py") == df.python_pipelines()[0].to_config()
    out = tmp_path / "pipelines.yaml"
    assert main(["pypeline_examples.dataflow:python_pipelines", "-o", str(out)]) == 0
    assert load_config(out).pipeline("orders_py").nodes["price_order"].max_ttl == 30
    assert [p.id for p in load_pipelines("pypeline_examples.dataflow:python_pipelines")] == ["orders_py"]
    with pytest.raises(InvalidInputError, match="expected 'package.module:attribute'"):
        load_pipelines("pypeline_examples.dataflow")
    with pytest.raises(InvalidInputError, match="is not a Pipeline or a list of Pipelines"):
        load_pipelines("pypeline_examples.dataflow:__all__")
    with pytest.raises(InvalidInputError, match="calling 'pypeline_examples.dataflow:numbers' failed: TypeError"):
        load_pipelines("pypeline_examples.dataflow:numbers")


def test_python_dash_m_writes_the_yaml(tmp_path: Path) -> None:
    out = tmp_path / "pipelines.yaml"
    done = subprocess.run([sys.executable, "-m", "pypeline.pipeline", "pypeline_examples.dataflow:python_pipelines",
                           "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert load_config(out).pipeline("orders_py").nodes["price_order"].max_ttl == 30


def test_main_reports_errors_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no_such_module:pipes"]) == 1
    assert "cannot load pipelines from 'no_such_module:pipes'" in capsys.readouterr().err


def test_runtime_for_runs_python_pipelines_on_the_same_engine(tmp_path: Path, redis_url: str) -> None:
    queue = f"pyapi-{uuid.uuid4().hex[:8]}"
    pipe = (Pipeline("squares", queue=queue, max_retry=0).add_node("nums", df.numbers, split=True)
            .add_node("sq", df.square_async).add_node("by", df.sum_by_parity, join_key="parity")
            .chain("nums", "sq", "by"))
    settings = Settings(home=tmp_path, broker_url=redis_url.rsplit("/", 1)[0] + "/11",
                        database_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
    rt = runtime_for([pipe], settings)
    with rt.embedded_worker(concurrency=2):
        record = rt.wait(invoke(rt, "squares", {"n": 4}), 30)
    assert record["status"] == "SUCCESS" and record["engine"] == "event"
    assert record["result"] == {"by": {"even": 0 + 4, "odd": 1 + 9}}
