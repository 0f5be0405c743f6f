"""Every setting of Pypeline, declared once and read from `PYPELINE_*` env vars (with the original's fallbacks).

Each `Settings` field declared with `setting(...)` (machinery in `pypeline.envtable`) is one row of the
settings table: its env var, default, unit and one-line doc sit in that one declaration. `Settings.from_env`
reads the rows (`SETTINGS`); README's settings table is generated from them (`pypeline settings --format
markdown`; tests/test_settings.py checks it), and so is `pypeline settings`. Fixed bounds and internal
constants that are deliberately not settings are listed, with the reason, in docs/settings.md.

To add a setting, add one line to `Settings` (keep related settings together, e.g. a block of `beat_*`)::

    beat_example_seconds: float = setting("PYPELINE_BEAT_EXAMPLE_SECONDS", 2.0, "What it does.", unit="s")

then run `pypeline settings --format markdown` and paste its output over README's table.
"""
from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pypeline.envtable import FALSE_WORDS, TRUE_WORDS, Setting, format_value, rows_markdown, rows_of, setting

__all__ = ["Settings", "Setting", "SETTINGS", "setting", "settings_markdown", "format_value", "get_settings",
           "EMBEDDED_BROKER", "packaged_config_path", "PACKAGED_CONFIG_NAMES"]

#: Broker URL meaning "the embedded, serverless transport" (a kombu filesystem transport).
EMBEDDED_BROKER = "embedded://"
#: File names looked up inside a client package when no `SERMOS_YAML_PATH` is given.
PACKAGED_CONFIG_NAMES = ("sermos.yaml", "pypeline.yaml")


def packaged_config_path(pkg_name: str | None = None, yaml_path: str | None = None) -> str | None:
    """The config file shipped inside a client package (the original's lookup), or None.

    The package is `pkg_name`, else `PYPELINE_CLIENT_PKG_NAME`/`SERMOS_CLIENT_PKG_NAME` ("-" becomes "_");
    the file is `yaml_path`, else `PYPELINE_YAML_PATH`/`SERMOS_YAML_PATH`, else `sermos.yaml` then `pypeline.yaml`.
    """
    pkg = pkg_name or _ROWS["client_pkg_name"].read(os.environ)
    if not pkg:
        return None
    pkg = pkg.strip().replace("-", "_")
    wanted = yaml_path or _ROWS["yaml_path"].read(os.environ)
    names = (wanted,) if wanted else PACKAGED_CONFIG_NAMES
    try:
        root = importlib.resources.files(pkg)
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    for name in names:
        candidate = root.joinpath(name)
        if candidate.is_file():
            return str(candidate)
    return None


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `get_settings()` or `Settings.from_env()`."""

    # -- config and deployment
    config_path: str | None = setting(
        "PYPELINE_CONFIG", None, "Config file every entry point shares (`celery -A pypeline.celery`, beat, API).",
        shown_default="the client package's file, if any")
    client_pkg_name: str | None = setting(
        "PYPELINE_CLIENT_PKG_NAME", None,
        "With `PYPELINE_CONFIG` unset: the config ships inside this package (`-` becomes `_`).",
        fallbacks=("SERMOS_CLIENT_PKG_NAME",))
    yaml_path: str | None = setting(
        "PYPELINE_YAML_PATH", None, "The config file's path inside that package.", fallbacks=("SERMOS_YAML_PATH",),
        shown_default="`sermos.yaml`, then `pypeline.yaml`")
    home: Path = setting("PYPELINE_HOME", Path(".pypeline"),
                         "Folder of the embedded deployment: broker message folders and default SQLite files.")
    broker_url: str = setting("PYPELINE_BROKER_URL", EMBEDDED_BROKER,
                              "Celery broker; `embedded://` is a filesystem transport under the home folder.",
                              fallbacks=("CELERY_BROKER_URL", "REDIS_URL"), secret=True)
    #: True when a broker was named (env or flag): `pypeline run` then submits to running workers. Not a setting.
    broker_configured: bool = False
    result_backend: str | None = setting(
        "PYPELINE_RESULT_BACKEND", None, "Celery result backend; default: the Redis broker, else `db+` the store.",
        fallbacks=("CELERY_RESULT_BACKEND",), shown_default="derived", secret=True)
    database_url: str | None = setting("PYPELINE_DATABASE_URL", None, "SQLAlchemy URL of the run store.",
                                       shown_default="SQLite under home", secret=True)
    service: str | None = setting("PYPELINE_SERVICE", None, "Register only this `serviceConfig` entry's handlers.",
                                  fallbacks=("WORKER_NAME",))
    # -- limits
    result_expires: int = setting("PYPELINE_RESULT_EXPIRES", 86400, "Celery result expiry.", unit="s")
    task_timeout: int = setting("PYPELINE_TASK_TIMEOUT", 3600, "Soft time limit of a node that sets none.", unit="s")
    max_payload_bytes: int = setting("PYPELINE_MAX_PAYLOAD_BYTES", 1_000_000,
                                     "Largest JSON payload of an invocation (and API request body).", unit="bytes")
    max_result_bytes: int = setting("PYPELINE_MAX_RESULT_BYTES", 5_000_000,
                                    "Largest JSON node result kept in the store.", unit="bytes")
    max_config_bytes: int = setting("PYPELINE_MAX_CONFIG_BYTES", 10_000_000,
                                    "Largest config file read, checked before parsing.", unit="bytes")
    node_log_bytes: int = setting("PYPELINE_NODE_LOG_BYTES", 1_000_000,
                                  "Output captured per node attempt; 0 turns capture off.", unit="bytes")
    # -- workers and brokers
    allow_builtin_tasks: bool = setting(
        "PYPELINE_ALLOW_BUILTIN_TASKS", False,
        "Let workers run Celery's built-in tasks (`celery.chord_unlock`, `celery.backend_cleanup`, ...).")
    prefetch_multiplier: int = setting("PYPELINE_PREFETCH", 1, "Worker prefetch multiplier (1 suits long tasks).")
    visibility_timeout: int = setting("PYPELINE_VISIBILITY_TIMEOUT", 3600,
                                      "Redis transport: an unacknowledged message is re-delivered after this.",
                                      unit="s")
    embedded_poll_interval: float = setting("PYPELINE_EMBEDDED_POLL_INTERVAL", 0.01,
                                            "Polling interval of the embedded filesystem transport.", unit="s")
    dyrygent_tick: float = setting("PYPELINE_DYRYGENT_TICK", 1.0,
                                   "Tick of the dyrygent workflow processor (0: re-tick at once).", unit="s")
    task_events: bool = setting("PYPELINE_TASK_EVENTS", True,
                                "Workers send Celery task events (Flower, `celery events`) without `-E`.")
    task_results: str = setting(
        "PYPELINE_TASK_RESULTS", "auto",
        "Keep node task results in the Celery result backend too (`auto`: Redis backends only); "
        "the run store holds them either way.", choices=("auto", *TRUE_WORDS, *FALSE_WORDS))
    log_level: str = setting("PYPELINE_LOG_LEVEL", "INFO", "Log level of workers and the CLI.",
                             fallbacks=("LOG_LEVEL",))
    # -- durability: retries, leases, reconciler
    store_retry_seconds: float = setting(
        "PYPELINE_STORE_RETRY_SECONDS", 30.0,
        "How long a store operation retries lost connections, deadlocks and locks.", unit="s")
    publish_retry_seconds: float = setting(
        "PYPELINE_PUBLISH_RETRY_SECONDS", 30.0,
        "How long publishing a node message retries across broker reconnects.", unit="s")
    lease_seconds: float = setting(
        "PYPELINE_LEASE_SECONDS", 30.0,
        "A running node's lease; a node whose worker stopped renewing it is re-run after this.", unit="s")
    heartbeat_seconds: float | None = setting(
        "PYPELINE_HEARTBEAT_SECONDS", None, "Time between each worker's lease renewals (one UPDATE).", unit="s",
        shown_default="lease / 3")
    reconciler_enabled: bool = setting(
        "PYPELINE_RECONCILER", True,
        "Workers run the leader-elected reconciler (`pypeline runs recover` works either way).")
    reconcile_interval: float = setting(
        "PYPELINE_RECONCILE_INTERVAL", 5.0,
        "Time between reconciler passes and leader-lock renewals (the lock lasts 3 intervals).", unit="s")
    queued_overdue_seconds: float = setting(
        "PYPELINE_QUEUED_OVERDUE_SECONDS", 30.0,
        "A QUEUED node older than this, with its broker queue empty, is re-published.", unit="s")
    # -- beat
    beat_max_interval: float = setting("PYPELINE_BEAT_MAX_INTERVAL", 1.0,
                                       "Longest beat sleep between looks at the schedule table.", unit="s")
    beat_catch_up: str = setting("PYPELINE_BEAT_CATCH_UP", "once",
                                 "Schedule slots missed while no beat ran: `once` fires them once, `skip` drops them.",
                                 choices=("once", "skip"))
    beat_missed_after: float = setting(
        "PYPELINE_BEAT_MISSED_AFTER", 10.0,
        "A due slot older than this when beat reaches it was missed; the catch-up policy applies.", unit="s")
    beat_redispatch_after: float = setting(
        "PYPELINE_BEAT_REDISPATCH_AFTER", 6.0,
        "A claimed fire still unsent after this long is re-sent by any beat (its beat died or failed to publish).",
        unit="s")
    beat_orphan_scan_every: float = setting(
        "PYPELINE_BEAT_ORPHAN_SCAN_EVERY", 2.0, "Between looks for such fires while fires are being claimed.", unit="s")
    beat_orphan_scan_idle_every: float = setting(
        "PYPELINE_BEAT_ORPHAN_SCAN_IDLE_EVERY", 60.0, "Between looks for such fires when nothing was claimed lately.",
        unit="s")
    beat_offline_after: float = setting(
        "PYPELINE_BEAT_OFFLINE_AFTER", 5.0,
        "How long the store must have been failing before beat fires from its in-memory schedule.", unit="s")
    beat_prune_every: float = setting("PYPELINE_BEAT_PRUNE_EVERY", 3600.0, "Between removals of old fire log rows.",
                                      unit="s")
    beat_fire_retention_days: float = setting("PYPELINE_BEAT_FIRE_RETENTION_DAYS", 3.0,
                                              "How long the fire log is kept.", unit="days")
    beat_give_up_after: float = setting("PYPELINE_BEAT_GIVE_UP_AFTER", 86400.0,
                                        "A pending fire not sent after this long is given up (marked failed).",
                                        unit="s")
    beat_max_fires_per_tick: int = setting(
        "PYPELINE_BEAT_MAX_FIRES_PER_TICK", 200,
        "Most fires handled per tick before beat looks at schedule changes again.")
    beat_backoff_min: float = setting("PYPELINE_BEAT_BACKOFF_MIN", 1.0,
                                      "First wait between retries while the store is unreachable.", unit="s")
    beat_backoff_max: float = setting("PYPELINE_BEAT_BACKOFF_MAX", 30.0,
                                      "Longest wait between retries while the store is unreachable.", unit="s")
    beat_heartbeat_file: Path | None = setting(
        "PYPELINE_BEAT_HEARTBEAT", None,
        "File beat touches every tick; `pypeline beat FILE --healthcheck` reads it.",
        shown_default="`beat.heartbeat` under home")
    run_retention_days: float = setting(
        "PYPELINE_RUN_RETENTION_DAYS", 0.0,
        "Beat prunes finished runs and fires older than this, hourly; 0 keeps them.", unit="days")
    # -- HTTP API and dashboard
    secret_key: str | None = setting(
        "PYPELINE_SECRET_KEY", None,
        "Flask secret for dashboard sessions, the same on every API process (also given to a host app without one).",
        shown_default="random per process", secret=True)
    docs_require_key: bool = setting("PYPELINE_DOCS_REQUIRE_KEY", False,
                                     "Require a read key for `/api/v1/openapi.json` and `/api/v1/docs`.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values = {row.name: row.read(env) for row in SETTINGS}
        if values["config_path"] is None:
            values["config_path"] = packaged_config_path(values["client_pkg_name"], values["yaml_path"])
        values["broker_configured"] = _ROWS["broker_url"].source(env) is not None
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        """Copy with the given non-None fields replaced (CLI flags win over env)."""
        values = {k: v for k, v in changes.items() if v is not None}
        if "broker_url" in values:
            values.setdefault("broker_configured", True)
        return replace(self, **values)

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between lease renewals: the configured value, else a third of the lease."""
        return self.heartbeat_seconds or self.lease_seconds / 3

    @property
    def is_embedded(self) -> bool:
        """True when the broker is the embedded filesystem transport."""
        return self.broker_url.startswith(EMBEDDED_BROKER)

    @property
    def resolved_beat_heartbeat_file(self) -> Path:
        """The beat heartbeat file: configured, else `beat.heartbeat` under `home`."""
        return self.beat_heartbeat_file or (self.home / "beat.heartbeat")

    @property
    def keep_task_results(self) -> bool:
        """Whether node tasks store their result in the Celery backend (readable by `celery result`, Flower)."""
        if self.task_results in TRUE_WORDS:
            return True
        if self.task_results in FALSE_WORDS:
            return False
        return self.resolved_result_backend.startswith(("redis://", "rediss://"))

    @property
    def resolved_database_url(self) -> str:
        """The store URL: the configured one or a SQLite file under `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'pypeline.sqlite').resolve()}"

    @property
    def resolved_result_backend(self) -> str:
        """The Celery result backend: configured, else Redis beside a Redis broker, else the store's DB."""
        if self.result_backend:
            return self.result_backend
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        if self.is_embedded:
            return f"db+sqlite:///{(self.home / 'results.sqlite').resolve()}"
        return "db+" + self.resolved_database_url


#: The settings table: one row per setting, in declaration order.
SETTINGS: tuple[Setting, ...] = rows_of(Settings)
_ROWS = {row.name: row for row in SETTINGS}


def settings_markdown() -> str:
    """README's settings table (Markdown), generated from `SETTINGS`."""
    return rows_markdown(SETTINGS)


_cached: Settings | None = None


def get_settings(refresh: bool = False) -> Settings:
    """The process-wide settings, read once from the environment."""
    global _cached
    if _cached is None or refresh:
        _cached = Settings.from_env()
    return _cached
