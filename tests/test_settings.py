"""Settings: PYPELINE_* env vars with the original's fallbacks."""
from __future__ import annotations

from pathlib import Path

import pytest

from pypeline.settings import EMBEDDED_BROKER, Settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    s = Settings.from_env()
    assert s.broker_url == EMBEDDED_BROKER and s.is_embedded
    assert s.resolved_database_url.startswith("sqlite:///") and s.resolved_database_url.endswith("pypeline.sqlite")
    assert s.resolved_result_backend.startswith("db+sqlite:///")


def test_original_env_vars_are_fallbacks(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/1")
    assert Settings.from_env().broker_url == "redis://r:6379/1"
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://c//")
    assert Settings.from_env().broker_url == "amqp://c//"
    monkeypatch.setenv("PYPELINE_BROKER_URL", "redis://p:6379/2")
    s = Settings.from_env()
    assert s.broker_url == "redis://p:6379/2"
    assert s.resolved_result_backend == "redis://p:6379/2"
    monkeypatch.setenv("WORKER_NAME", "etl")
    assert Settings.from_env().service == "etl"


def test_amqp_broker_uses_the_store_for_results(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    monkeypatch.setenv("PYPELINE_BROKER_URL", "amqp://guest:guest@127.0.0.1//")
    monkeypatch.setenv("PYPELINE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings.from_env().resolved_result_backend == "db+postgresql+psycopg://u@h/db"


def test_cli_overrides_ignore_none() -> None:
    s = Settings().with_overrides(broker_url=None, database_url="sqlite:///x.db")
    assert s.broker_url == EMBEDDED_BROKER and s.database_url == "sqlite:///x.db"


def test_lease_and_reconciler_settings(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    defaults = Settings.from_env()
    assert (defaults.lease_seconds, defaults.heartbeat_interval, defaults.reconciler_enabled,
            defaults.reconcile_interval, defaults.queued_overdue_seconds) == (30.0, 10.0, True, 5.0, 30.0)
    monkeypatch.setenv("PYPELINE_LEASE_SECONDS", "12")
    monkeypatch.setenv("PYPELINE_RECONCILER", "off")
    monkeypatch.setenv("PYPELINE_RECONCILE_INTERVAL", "1.5")
    monkeypatch.setenv("PYPELINE_QUEUED_OVERDUE_SECONDS", "90")
    custom = Settings.from_env()
    assert (custom.lease_seconds, custom.heartbeat_interval, custom.reconciler_enabled,
            custom.reconcile_interval, custom.queued_overdue_seconds) == (12.0, 4.0, False, 1.5, 90.0)
    monkeypatch.setenv("PYPELINE_HEARTBEAT_SECONDS", "2")
    assert Settings.from_env().heartbeat_interval == 2.0
