"""Embedded (no-services) transports for `pypeline run`: filesystem vs memory, in-process vs separate worker.

Runs a 10-node chain and a 20-wide fan-out + join of trivial nodes on each variant with the SQLite store and
prints median submit->finished latency. Usage: python benchmarks/bench_embedded.py [--reps 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pypeline.config import load_config_text
from pypeline.runtime import Runtime
from pypeline.services.invoke import invoke
from pypeline.settings import Settings

HANDLER = "pypeline_examples.demo.summarize"


def _config(queue: str) -> str:
    chain = "\n".join(f"        c{i}: [c{i + 1}]" for i in range(9))
    chain_defs = "\n".join(f"        c{i}: {{handler: {HANDLER}}}" for i in range(10))
    fan = "        root: [" + ", ".join(f"w{i}" for i in range(20)) + "]\n" + "\n".join(
        f"        w{i}: [join]" for i in range(20))
    fan_defs = "\n".join([f"        root: {{handler: {HANDLER}}}", f"        join: {{handler: {HANDLER}}}"]
                         + [f"        w{i}: {{handler: {HANDLER}}}" for i in range(20)])
    return f"""
serviceConfig: []
pipelines:
  chain10:
    name: chain10
    schemaVersion: 1
    config:
      metadata: {{queue: {queue}, maxRetry: 0}}
      dagAdjacency:
{chain}
      taskDefinitions:
{chain_defs}
  fan20:
    name: fan20
    schemaVersion: 1
    config:
      metadata: {{queue: {queue}, maxRetry: 0}}
      dagAdjacency:
{fan}
      taskDefinitions:
{fan_defs}
"""


def _measure(rt: Runtime, pipeline: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run_id = invoke(rt, pipeline, {})
        assert rt.wait(run_id, 60, poll=0.005)["status"] == "SUCCESS"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run every variant and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(_config("bench-embedded"))
        config = load_config_text(path.read_text(), str(path))
        for label, broker in (("filesystem, in-process worker", "embedded://"),
                              ("memory, in-process worker", "memory://")):
            home = Path(tmp) / label.split(",")[0]
            rt = Runtime(config, Settings(broker_url=broker, home=home, result_backend="cache+memory://"))
            if broker == "memory://":
                rt.celery.conf.broker_transport_options = {"polling_interval": 0.01}  # same as filesystem
            with rt.embedded_worker(concurrency=2):
                _measure(rt, "chain10", 1)
                rows.append((label, _measure(rt, "chain10", args.reps), _measure(rt, "fan20", args.reps)))
        home = Path(tmp) / "separate"
        env = {**os.environ, "PYPELINE_HOME": str(home), "PYPELINE_BROKER_URL": "embedded://"}
        worker = subprocess.Popen([sys.executable, "-m", "pypeline", "worker", str(path), "-c", "2", "-l", "WARNING"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rt = Runtime(config, Settings(broker_url="embedded://", home=home), register=False)
            _measure(rt, "chain10", 1)
            rows.append(("filesystem, separate worker process", _measure(rt, "chain10", args.reps),
                         _measure(rt, "fan20", args.reps)))
        finally:
            worker.terminate()
            worker.wait(30)
    print(f"{'variant':<40} {'10-chain s':>10} {'20-fan+join s':>14}")
    for label, chain, fan in rows:
        print(f"{label:<40} {chain:>10.3f} {fan:>14.3f}")


if __name__ == "__main__":
    main()
