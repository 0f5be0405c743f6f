"""docker-compose.yml and Dockerfile: parse them and check every command against the real CLI."""
from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
import pytest
import yaml
from click.testing import CliRunner

from pypeline.cli import cli
from tests.helpers import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPELINE_SERVICES = {"api": "api", "worker": "worker", "beat": "beat"}
SETTINGS_SOURCE = (ROOT / "pypeline" / "settings.py").read_text() + (ROOT / "pypeline" / "webapp.py").read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file."""
    return yaml.safe_load(COMPOSE.read_text())


def _command(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command an argv (starting with `pypeline`) names, and its own arguments."""
    assert argv[0] == "pypeline", argv
    command: click.Command = cli
    args = list(argv[1:])
    while isinstance(command, click.Group):
        name = args.pop(0)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"`pypeline` has no command {name!r} (from {argv})"
        command = sub
    return command, args


def _check_argv(argv: list[str]) -> None:
    command, args = _command(argv)
    # Parsing validates every option name, choice and type exactly as the real CLI would.
    ctx = command.make_context(command.name or "pypeline", list(args), resilient_parsing=False)
    assert ctx.params
    help_text = CliRunner().invoke(cli, [*argv[1:len(argv) - len(args)], "--help"]).output
    for arg in args:
        if arg.startswith("-"):
            assert arg.split("=")[0] in help_text, f"{arg} missing from `{' '.join(argv[:2])} --help`"


def test_services_and_their_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"api", "worker", "beat", "redis", "rabbitmq", "postgres"}
    for name, sub in PYPELINE_SERVICES.items():
        argv = services[name]["command"]
        assert isinstance(argv, list) and argv[:2] == ["pypeline", sub], argv
        _check_argv(argv)
        assert argv[2] == services[name]["environment"]["PYPELINE_CONFIG"]


def test_environment_points_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in PYPELINE_SERVICES:
        svc = services[name]
        env = svc["environment"]
        for key in env:
            assert key.startswith("PYPELINE_") and key in SETTINGS_SOURCE, f"{name}: unknown setting {key}"
        hosts = {urlparse(env[k].replace("postgresql+psycopg", "postgresql")).hostname
                 for k in ("PYPELINE_BROKER_URL", "PYPELINE_RESULT_BACKEND", "PYPELINE_DATABASE_URL")}
        assert hosts <= set(services), hosts
        assert hosts <= set(svc["depends_on"]), (name, svc["depends_on"])
        assert all(dep["condition"] == "service_healthy" for dep in svc["depends_on"].values())
        assert env["PYPELINE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["PYPELINE_BROKER_URL"].startswith("amqp://")
    pg = services["postgres"]["environment"]
    db = urlparse(services["api"]["environment"]["PYPELINE_DATABASE_URL"].replace("+psycopg", ""))
    assert (db.username, db.password, db.path.lstrip("/")) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
                                                               pg["POSTGRES_DB"])
    mq = services["rabbitmq"]["environment"]
    amqp = urlparse(services["api"]["environment"]["PYPELINE_BROKER_URL"])
    assert (amqp.username, amqp.password) == (mq["RABBITMQ_DEFAULT_USER"], mq["RABBITMQ_DEFAULT_PASS"])
    assert "PYPELINE_SECRET_KEY" in services["api"]["environment"]
    for name in ("redis", "rabbitmq", "postgres", "api"):
        assert services[name]["healthcheck"]["test"], name
    port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert services["api"]["ports"] == [f"{port}:{port}"]
    assert port in " ".join(services["api"]["healthcheck"]["test"])


def test_compose_mounts_a_file_that_exists(compose: dict[str, Any]) -> None:
    for name in PYPELINE_SERVICES:
        source = compose["services"][name]["volumes"][0].split(":/app/")[0]
        default = re.sub(r"^\$\{[A-Z_]+:-(.+)\}$", r"\1", source)
        assert (ROOT / default).is_file(), default


def test_dockerfile_copies_real_paths_and_runs_a_real_command() -> None:
    text = DOCKERFILE.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in shlex.split(line)[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd is not None
    _check_argv(yaml.safe_load(cmd.group(1)))
    extras = re.search(r'pip install "\.\[([^\]]+)\]"', text).group(1).split(",")
    setup_text = (ROOT / "setup.py").read_text()
    for extra in extras:
        assert f'"{extra}":' in setup_text, f"extra {extra!r} not in setup.py"


def test_worker_and_beat_have_working_healthchecks(compose: dict[str, Any], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose["services"]
    kind, shell = services["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    argv = shlex.split(shell.replace("$$", "$"))
    assert argv[:5] == ["celery", "-A", "pypeline.celery", "inspect", "ping"]
    assert argv[argv.index("-d") + 1] == "celery@$HOSTNAME"
    assert "-n" not in services["worker"]["command"] and "--hostname" not in services["worker"]["command"], \
        "the ping names Celery's default node name celery@<hostname>"
    from celery.bin.celery import celery as celery_cli

    celery_cli.make_context("celery", argv[1:], resilient_parsing=False)  # every option is Celery's own

    beat_check = services["beat"]["healthcheck"]["test"]
    assert beat_check[0] == "CMD"
    _check_argv(beat_check[1:])
    assert beat_check[1:4] == services["beat"]["command"][:3] and "--healthcheck" in beat_check
    heartbeat = tmp_path / "beat.heartbeat"
    monkeypatch.setenv("PYPELINE_BEAT_HEARTBEAT", str(heartbeat))
    monkeypatch.setattr("pypeline.settings._cached", None)
    args = [*beat_check[2:]]
    stale = CliRunner().invoke(cli, args)
    assert stale.exit_code == 1 and "no heartbeat file" in stale.output
    heartbeat.touch()
    assert CliRunner().invoke(cli, args).exit_code == 0
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    assert CliRunner().invoke(cli, args).exit_code == 1


def test_make_context_rejects_an_unknown_option() -> None:
    """The check above can fail: a wrong option is caught (the worker passes unknown options to Celery)."""
    with pytest.raises(click.UsageError):
        _check_argv(["pypeline", "beat", "/app/sermos.yaml", "--no-such-option"])
    with pytest.raises(AssertionError):
        _check_argv(["pypeline", "nosuchcommand"])
