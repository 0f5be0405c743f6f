"""`pypeline api` (serve the HTTP API and dashboard) and `pypeline keys create|revoke|list`."""
from __future__ import annotations

import importlib.util
from typing import Any

import click
from rich.table import Table

from pypeline.commands.common import (
    broker_option,
    build_settings,
    console,
    database_option,
    echo_json,
    err_console,
    handle_errors,
)
from pypeline.config import load_config
from pypeline.errors import PypelineError
from pypeline.runtime import Runtime
from pypeline.services import keys as key_service
from pypeline.settings import Settings

__all__ = ["api", "keys"]


def _app_for(settings: Settings) -> Any:
    from pypeline.webapp import create_app

    return create_app(runtime=Runtime.from_path(str(settings.config_path), settings))


def _serve_gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int, timeout: int) -> None:
    from gunicorn.app.base import BaseApplication

    from pypeline.commands.gunicorn_errors import install_json_errors

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                               "timeout": timeout, "worker_class": "gthread" if threads > 1 else "sync",
                               "accesslog": "-", "preload_app": False,
                               "post_worker_init": install_json_errors}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return _app_for(settings)  # built in each worker process, after the fork

    _App().run()


@click.command()
@click.argument("file", required=False, envvar="PYPELINE_CONFIG", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@broker_option
@database_option
@click.option("--server", type=click.Choice(["auto", "gunicorn", "werkzeug"]), default="auto", show_default=True,
              help="auto: gunicorn when installed, else werkzeug's threaded server.")
@click.option("-w", "--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Threads per gunicorn worker.")
@click.option("--timeout", default=60, show_default=True, type=click.IntRange(1, 3600),
              help="gunicorn worker timeout, seconds.")
@handle_errors
def api(file: str | None, host: str, port: int, broker: str | None, database: str | None, server: str,
        workers: int, threads: int, timeout: int) -> None:
    """Serve the HTTP API (/api/v1) and the dashboard (/ui) for FILE (default PYPELINE_CONFIG)."""
    settings = build_settings(file, broker, database)
    if settings.config_path is None:
        raise PypelineError("no config file: pass FILE or set PYPELINE_CONFIG")
    load_config(settings.config_path)  # fail fast, before any worker starts
    use_gunicorn = server == "gunicorn" or (server == "auto" and importlib.util.find_spec("gunicorn") is not None)
    console.print(f"pypeline api on http://{host}:{port} ({'gunicorn' if use_gunicorn else 'werkzeug'}); "
                  f"dashboard /ui, docs /api/v1/docs", highlight=False)
    if use_gunicorn:
        if importlib.util.find_spec("gunicorn") is None:
            raise PypelineError("gunicorn is not installed (pip install gunicorn) — or use --server werkzeug")
        from pypeline.store.db import dispose_engines, migrate

        migrate(settings.resolved_database_url)  # once, before forking workers
        dispose_engines()
        _serve_gunicorn(settings, host, port, workers, threads, timeout)
    else:
        _app_for(settings).run(host=host, port=port, threaded=True, use_reloader=False)


def _keys_runtime(database: str | None) -> Runtime:
    return Runtime(None, build_settings(None, None, database), register=False)


@click.group()
def keys() -> None:
    """Manage API keys (only a hash of each key is stored)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option("--scope", type=click.Choice(list(key_service.SCOPES)), default="read", show_default=True,
              help="read: GET endpoints; write: everything.")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON.")
@handle_errors
def create_cmd(name: str, scope: str, database: str | None, as_json: bool) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    created = key_service.create_key(_keys_runtime(database), name, scope)
    if as_json:
        echo_json({**created.info.as_dict(), "key": created.token})
        return
    err_console.print(f"created key {created.info.id} ({created.info.name}, scope {scope}); store it now, "
                      "it is not shown again:", highlight=False)
    click.echo(created.token)


@keys.command("revoke")
@click.argument("key_id")
@database_option
@handle_errors
def revoke_cmd(key_id: str, database: str | None) -> None:
    """Revoke a key by id; it stops working at once."""
    info = key_service.revoke_key(_keys_runtime(database), key_id)
    console.print(f"key {info.id} ({info.name}) revoked at {info.revoked_at}", highlight=False)


@keys.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(database: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    items = key_service.list_keys(_keys_runtime(database))
    if as_json:
        echo_json([i.as_dict() for i in items])
        return
    table = Table(title=f"{len(items)} key(s)")
    for col in ("id", "name", "scope", "created", "last used", "revoked"):
        table.add_column(col)
    for i in items:
        table.add_row(i.id, i.name, i.scope, i.created_at or "", i.last_used_at or "", i.revoked_at or "")
    console.print(table)
