"""API keys: the service (create, verify, scopes, revoke, list) and the `pypeline keys` / `pypeline api` CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.errors import AuthError, InvalidInputError, NotFoundError
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings


@pytest.fixture()
def rt(tmp_path: Path, postgres_url: str) -> Runtime:
    """A runtime with only a PostgreSQL store (keys need nothing else)."""
    return Runtime(None, Settings(database_url=postgres_url, home=tmp_path / "home"), register=False)


def test_create_verify_scopes_and_revoke(rt: Runtime) -> None:
    writer = key_service.create_key(rt, "  ci bot ", "write")
    reader = key_service.create_key(rt, "grafana")
    assert writer.info.name == "ci bot" and writer.info.scope == "write" and reader.info.scope == "read"
    assert writer.token.startswith(f"pyp_{writer.info.id}_") and len(writer.token) > 50
    assert writer.token != reader.token

    assert key_service.verify_key(rt, writer.token, "write").id == writer.info.id
    assert key_service.verify_key(rt, writer.token, "read").id == writer.info.id
    assert key_service.verify_key(rt, reader.token, "read").id == reader.info.id
    with pytest.raises(key_service.ScopeError):
        key_service.verify_key(rt, reader.token, "write")
    for bad in (None, "", "garbage", "pyp__x", f"pyp_{writer.info.id}_nope", writer.token + "x",
                f"pyp_{'a' * 40}_secret"):
        with pytest.raises(AuthError) as info:
            key_service.verify_key(rt, bad)
        assert not isinstance(info.value, key_service.ScopeError)

    assert key_service.revoke_key(rt, writer.info.id).revoked_at is not None
    assert key_service.revoke_key(rt, writer.info.id).revoked_at is not None  # idempotent
    with pytest.raises(AuthError, match="revoked"):
        key_service.verify_key(rt, writer.token)
    listed = {k.id: k for k in key_service.list_keys(rt)}
    assert set(listed) == {writer.info.id, reader.info.id}
    assert not listed[writer.info.id].active and listed[reader.info.id].last_used_at is not None
    assert [k.id for k in key_service.list_keys(rt, include_revoked=False)] == [reader.info.id]


def test_bad_input_writes_nothing(rt: Runtime) -> None:
    for name, scope in (("", "read"), ("x" * 201, "read"), ("ok", "admin"), ("ok", "")):
        with pytest.raises(InvalidInputError):
            key_service.create_key(rt, name, scope)
    assert key_service.list_keys(rt) == []
    with pytest.raises(NotFoundError):
        key_service.revoke_key(rt, "missing")


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    runner = CliRunner()
    env = {"PYPELINE_HOME": str(tmp_path / "home")}
    created = runner.invoke(cli, ["keys", "create", "--name", "deploy", "--scope", "write", "--database", db,
                                  "--json"], env=env)
    assert created.exit_code == 0, created.output
    record = json.loads(created.output)
    assert record["scope"] == "write" and record["key"].startswith("pyp_") and record["active"]

    plain = runner.invoke(cli, ["keys", "create", "--name", "viewer", "--database", db], env=env)
    assert plain.exit_code == 0
    token = plain.stdout.strip().splitlines()[-1]
    assert token.startswith("pyp_")

    listed = runner.invoke(cli, ["keys", "list", "--database", db, "--json"], env=env)
    rows = json.loads(listed.output)
    assert [r["name"] for r in rows] == ["deploy", "viewer"]
    assert token not in listed.output and record["key"] not in listed.output

    revoked = runner.invoke(cli, ["keys", "revoke", record["id"], "--database", db], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    missing = runner.invoke(cli, ["keys", "revoke", "nope", "--database", db], env=env)
    assert missing.exit_code == 1 and "unknown API key" in missing.output
    bad_scope = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "admin", "--database", db], env=env)
    assert bad_scope.exit_code == 2


def test_api_command_options(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(cli, ["api", "--help"]).output
    for option in ("--host", "--port", "--broker", "--database", "--server", "--workers"):
        assert option in help_text
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines: [\n")
    result = runner.invoke(cli, ["api", str(bad), "--server", "werkzeug"], env={"PYPELINE_CONFIG": ""})
    assert result.exit_code == 1 and "config error" in result.output
