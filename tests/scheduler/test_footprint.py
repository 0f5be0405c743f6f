"""What a beat process loads: the scheduler's needs only (no web faces, no services, no migrations tooling)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pypeline.services import schedules as svc
from tests.scheduler.support import Harness

#: Packages a beat never needs: the HTTP faces, the service layer above the scheduler, the graph library
#: and Alembic (the schema is already current here). jsonschema is needed: pipeline fires check payloads.
NOT_FOR_BEAT = ("flask", "werkzeug", "pypeline.api", "pypeline.web", "pypeline.services", "networkx", "alembic")
#: Nor the engine implementations (a beat starts runs only when a pipeline schedule fires; the engine is then
#: built on demand), celery-dyrygent, or the reconciler (a worker bootstep, imported by Celery when a worker starts).
NOT_FOR_BEAT += ("celery_dyrygent", "pypeline.engines.eventdriven", "pypeline.engines.dyrygent",
                 "pypeline.engines.runner", "pypeline.reconciler")

_PROBE = """
import json, sys
import pypeline.celery as entry
from pypeline.scheduler.beat import DatabaseScheduler
scheduler = DatabaseScheduler(app=entry.app)
scheduler.tick()
print(json.dumps(sorted(sys.modules)))
"""

_ENGINE_PROBE = """
import json, sys
import pypeline.celery as entry
before = sorted(entry.runtime.engines.built)
engine = entry.runtime.engines["event"]
print(json.dumps([before, sorted(entry.runtime.engines.built), type(engine).__name__,
                  "pypeline.engines.eventdriven" in sys.modules,
                  "pypeline.reconciler.worker:ReconcilerStep" in entry.app.steps["worker"]]))
"""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_beat_process_imports_only_what_it_needs(harness: Harness) -> None:
    svc.create_schedule(harness.rt, {"id": "one", "name": "one", "task": "tests.scheduler.handlers.count_fire",
                                     "every": 60})  # the schema exists: a beat start does not migrate
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**harness.env, "PATH": ""}, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "pypeline.scheduler.beat" in loaded
    unwanted = sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_BEAT or
                      any(m == p or m.startswith(p + ".") for p in NOT_FOR_BEAT))
    assert unwanted == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_engines_are_built_on_first_use_and_workers_keep_the_reconciler(harness: Harness) -> None:
    out = subprocess.run([sys.executable, "-c", _ENGINE_PROBE], env={**harness.env, "PATH": ""}, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    before, after, kind, imported, reconciler_step = json.loads(out.strip().splitlines()[-1])
    assert before == []  # the config has no dyrygent pipeline: nothing built at start
    assert after == ["event"] and kind == "EventDrivenEngine" and imported
    assert reconciler_step  # registered by name: Celery imports it when a worker starts
