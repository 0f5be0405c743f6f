"""`runtime_of(app)`: the one way code finds the Runtime a Celery app was built by."""
from __future__ import annotations

from pathlib import Path

from celery import Celery

from pypeline.runtime import Runtime
from pypeline.settings import Settings
from pypeline.tasks.app import attach_runtime, runtime_of


def test_an_app_pypeline_did_not_build_has_no_runtime() -> None:
    assert runtime_of(Celery("plain", set_as_current=False)) is None
    assert runtime_of(None) is None


def test_the_runtime_that_built_the_app_is_found_and_can_be_asked_for_by_type(tmp_path: Path) -> None:
    rt = Runtime(None, Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path}/s.db"))
    assert runtime_of(rt.celery) is rt
    assert runtime_of(rt.celery, Runtime) is rt
    other = Celery("other", set_as_current=False)
    attach_runtime(other, object())
    assert runtime_of(other) is not None and runtime_of(other, Runtime) is None  # not a Runtime: refused
