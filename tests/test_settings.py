"""Settings: one table of PYPELINE_* env vars (with the original's fallbacks), README and `pypeline settings`."""
from __future__ import annotations

import ast
import inspect
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.errors import InvalidInputError
from pypeline.settings import EMBEDDED_BROKER, SETTINGS, Setting, Settings, settings_markdown

PKG = Path(__file__).resolve().parent.parent / "pypeline"


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


def test_every_setting_is_declared_once_in_the_table() -> None:
    names = [row.name for row in SETTINGS]
    assert len(names) == len(set(names)) and len({row.env for row in SETTINGS}) == len(names)
    declared = {f.name for f in fields(Settings)} - {"broker_configured"}  # derived, not read from env
    assert set(names) == declared
    for row in SETTINGS:
        assert row.env.startswith("PYPELINE_"), row.env
        assert row.doc and "\n" not in row.doc and row.doc.endswith("."), row.name
        assert row.type in (str, int, float, bool, Path), row.name
        assert getattr(Settings(), row.name) == row.default, row.name


def test_from_env_reads_the_table_defaults(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    for row in SETTINGS:
        for var in row.variables:
            monkeypatch.delenv(var, raising=False)
    assert Settings.from_env() == Settings()


_SAMPLES: dict[type, tuple[str, object]] = {int: ("7", 7), float: ("2.5", 2.5), bool: ("off", False),
                                            Path: ("/tmp/x", Path("/tmp/x")), str: ("value", "value")}


@pytest.mark.parametrize("row", SETTINGS, ids=lambda row: row.env)
def test_each_setting_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path,
                                                row: Setting) -> None:
    raw, expected = (row.choices[-1], row.choices[-1]) if row.choices else _SAMPLES[row.type]
    for var in row.variables:  # the variable itself, then each fallback alone
        for other in row.variables:
            monkeypatch.delenv(other, raising=False)
        monkeypatch.setenv(var, raw)
        assert getattr(Settings.from_env(), row.name) == expected, var


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    for var, raw, message in [("PYPELINE_PREFETCH", "two", "PYPELINE_PREFETCH must be an integer, got 'two'"),
                              ("PYPELINE_LEASE_SECONDS", "soon", "PYPELINE_LEASE_SECONDS must be a number (s)"),
                              ("PYPELINE_TASK_EVENTS", "maybe", "PYPELINE_TASK_EVENTS must be one of 1, true"),
                              ("PYPELINE_BEAT_CATCH_UP", "all", "PYPELINE_BEAT_CATCH_UP must be one of once, skip")]:
        monkeypatch.setenv(var, raw)
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            Settings.from_env()
        monkeypatch.delenv(var)
    monkeypatch.setenv("PYPELINE_TASK_RESULTS", " TRUE ")
    assert Settings.from_env().task_results == "true"


def test_readme_table_is_generated_from_the_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings-table:")
    body = readme[readme.index("\n", start) + 1:readme.index("<!-- /settings-table -->")]
    assert body == settings_markdown(), "README settings table is stale: run `pypeline settings --format markdown`"
    for row in SETTINGS:
        assert f"| `{row.env}` |" in body


def test_settings_command_lists_effective_values(monkeypatch: pytest.MonkeyPatch, pypeline_home: Path) -> None:
    monkeypatch.setenv("PYPELINE_LEASE_SECONDS", "12")
    monkeypatch.setenv("PYPELINE_DATABASE_URL", "postgresql+psycopg://app:hunter2@db/runs")
    monkeypatch.setenv("PYPELINE_SECRET_KEY", "s3cret")
    monkeypatch.setenv("REDIS_URL", "redis://:pw@cache:6379/0")
    result = CliRunner().invoke(cli, ["settings", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["variable"]: row for row in json.loads(result.output)}
    assert set(rows) == {row.env for row in SETTINGS}
    assert rows["PYPELINE_LEASE_SECONDS"] | {"meaning": ""} == {
        "name": "lease_seconds", "variable": "PYPELINE_LEASE_SECONDS", "value": 12.0,
        "source": "PYPELINE_LEASE_SECONDS", "default": "30", "unit": "s", "meaning": ""}
    assert rows["PYPELINE_TASK_TIMEOUT"]["source"] == "default" and rows["PYPELINE_TASK_TIMEOUT"]["value"] == 3600
    assert rows["PYPELINE_DATABASE_URL"]["value"] == "postgresql+psycopg://app:***@db/runs"
    assert rows["PYPELINE_SECRET_KEY"]["value"] == "***"
    assert rows["PYPELINE_BROKER_URL"] | {"meaning": ""} == {
        "name": "broker_url", "variable": "PYPELINE_BROKER_URL", "value": "redis://:***@cache:6379/0",
        "source": "REDIS_URL", "default": "embedded://", "unit": "", "meaning": ""}
    assert "hunter2" not in result.output and "s3cret" not in result.output
    text = CliRunner().invoke(cli, ["settings"])
    assert text.exit_code == 0 and "PYPELINE_LEASE_SECONDS" in text.output and "hunter2" not in text.output
    markdown = CliRunner().invoke(cli, ["settings", "--format", "markdown"])
    assert markdown.output == settings_markdown()


def _numeric(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    return isinstance(node, ast.UnaryOp) and _numeric(node.operand)


def _module_constants() -> set[tuple[str, str, float]]:
    """(module, NAME, value) of every module-level numeric constant in pypeline/ (migrations excepted)."""
    found: set[tuple[str, str, float]] = set()
    for path in sorted(PKG.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = value = None
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target, value = node.targets[0].id, node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                target, value = node.target.id, node.value
            if target and target.lstrip("_").isupper() and value is not None and _numeric(value):
                found.add((module, target, float(eval(compile(ast.Expression(value), module, "eval")))))
    return found


def _documented_constants() -> set[tuple[str, str, float]]:
    text = (PKG.parent / "docs" / "settings.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- internal-constants -->"):text.index("<!-- /internal-constants -->")]
    rows: set[tuple[str, str, float]] = set()
    for line in table.splitlines()[3:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name, modules, value = cells[0].strip("`"), cells[1], float(cells[2])
        assert cells[5], f"{name}: say why it is not a setting"
        rows.update((module.strip(" `"), name, value) for module in modules.split(","))
    return rows


def test_internal_constants_are_listed_in_one_documented_place() -> None:
    """docs/settings.md lists every numeric module constant with its value (a new one needs a row and a reason)."""
    code, documented = _module_constants(), _documented_constants()
    assert sorted(code - documented) == [], "constants missing from (or changed since) docs/settings.md"
    assert sorted(documented - code) == [], "docs/settings.md lists constants the code no longer has"


def test_store_defaults_are_the_settings_defaults() -> None:
    from pypeline.store.repository import RunStore
    from pypeline.store.retry import DEFAULT_BUDGET_S

    assert DEFAULT_BUDGET_S == Settings().store_retry_seconds
    assert inspect.signature(RunStore).parameters["lease_seconds"].default == Settings().lease_seconds
