"""Every tunable of Pypeline in one place, read from `PYPELINE_*` env vars (with the original's fallbacks)."""
from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings", "get_settings", "EMBEDDED_BROKER", "packaged_config_path", "PACKAGED_CONFIG_NAMES"]

#: Broker URL meaning "the embedded, serverless transport" (a kombu filesystem transport).
EMBEDDED_BROKER = "embedded://"


def _env(name: str, *fallbacks: str, default: str | None = None) -> str | None:
    for key in (name, *fallbacks):
        value = os.environ.get(key)
        if value not in (None, ""):
            return value
    return default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


#: File names looked up inside a client package when no `SERMOS_YAML_PATH` is given.
PACKAGED_CONFIG_NAMES = ("sermos.yaml", "pypeline.yaml")


def packaged_config_path(pkg_name: str | None = None, yaml_path: str | None = None) -> str | None:
    """The config file shipped inside a client package (the original's lookup), or None.

    The package is `pkg_name`, else `PYPELINE_CLIENT_PKG_NAME`/`SERMOS_CLIENT_PKG_NAME` ("-" becomes "_");
    the file is `yaml_path`, else `SERMOS_YAML_PATH`, else `sermos.yaml` then `pypeline.yaml`.
    """
    pkg = pkg_name or _env("PYPELINE_CLIENT_PKG_NAME", "SERMOS_CLIENT_PKG_NAME")
    if not pkg:
        return None
    pkg = pkg.strip().replace("-", "_")
    wanted = yaml_path or _env("PYPELINE_YAML_PATH", "SERMOS_YAML_PATH")
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


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `get_settings()` or `Settings.from_env()`."""

    #: Path of the sermos.yaml/pypeline.yaml every entry point shares (`PYPELINE_CONFIG`).
    config_path: str | None = None
    #: Folder of the embedded deployment: message folders and the SQLite store (`PYPELINE_HOME`).
    home: Path = field(default_factory=lambda: Path(".pypeline"))
    #: Celery broker; `embedded://` (default) is a filesystem transport under `home`.
    broker_url: str = EMBEDDED_BROKER
    #: True when a broker was named (env or flag): `pypeline run` then submits to running workers.
    broker_configured: bool = False
    #: Celery result backend; None derives one from the broker (Redis) or the store.
    result_backend: str | None = None
    #: SQLAlchemy URL of the run store; default SQLite file under `home`.
    database_url: str | None = None
    #: Restrict a worker to one serviceConfig entry (`PYPELINE_SERVICE`, original `WORKER_NAME`).
    service: str | None = None
    #: Seconds Celery keeps task results (`PYPELINE_RESULT_EXPIRES`).
    result_expires: int = 86400
    #: Default soft time limit in seconds when a node sets none (`PYPELINE_TASK_TIMEOUT`).
    task_timeout: int = 3600
    #: Largest JSON payload accepted for an invocation, in bytes (`PYPELINE_MAX_PAYLOAD_BYTES`).
    max_payload_bytes: int = 1_000_000
    #: Largest JSON node result kept in the store, in bytes (`PYPELINE_MAX_RESULT_BYTES`).
    max_result_bytes: int = 5_000_000
    #: Largest config file read, in bytes, checked before parsing (`PYPELINE_MAX_CONFIG_BYTES`).
    max_config_bytes: int = 10_000_000
    #: Let workers run Celery's built-in tasks (celery.chord_unlock, ...) (`PYPELINE_ALLOW_BUILTIN_TASKS`).
    allow_builtin_tasks: bool = False
    #: Polling interval of the embedded filesystem transport, seconds.
    embedded_poll_interval: float = 0.01
    #: Worker prefetch multiplier (1 suits long tasks; `PYPELINE_PREFETCH`).
    prefetch_multiplier: int = 1
    #: Seconds beat waits at most between looks at the schedule table (`PYPELINE_BEAT_MAX_INTERVAL`).
    beat_max_interval: float = 1.0
    #: What beat does with slots missed while no beat ran: "once" fires them once, "skip" drops them
    #: (`PYPELINE_BEAT_CATCH_UP`).
    beat_catch_up: str = "once"
    # -- beat tunables (`PYPELINE_BEAT_*`), all in seconds unless named otherwise --
    #: A due slot older than this when beat reaches it was missed; the catch-up policy applies.
    beat_missed_after: float = 10.0
    #: A claimed fire still unsent after this long is re-sent by any beat (its beat died or failed to publish).
    beat_redispatch_after: float = 6.0
    #: Between looks for such fires while fires are being claimed, and when nothing was claimed lately.
    beat_orphan_scan_every: float = 2.0
    beat_orphan_scan_idle_every: float = 60.0
    #: How long the store must have been failing before beat fires from its in-memory schedule.
    beat_offline_after: float = 5.0
    #: Between removals of old fire log rows; how many days that log is kept.
    beat_prune_every: float = 3600.0
    beat_fire_retention_days: float = 3.0
    #: A pending fire not sent after this long is given up (marked failed).
    beat_give_up_after: float = 86400.0
    #: Most fires handled per tick before beat looks at schedule changes again (a count).
    beat_max_fires_per_tick: int = 200
    #: First and longest wait between retries while the store is unreachable.
    beat_backoff_min: float = 1.0
    beat_backoff_max: float = 30.0
    #: Seconds between ticks of the dyrygent workflow processor (`PYPELINE_DYRYGENT_TICK`; 0 = re-tick at once).
    dyrygent_tick: float = 1.0
    #: Seconds before Redis re-delivers an unacknowledged message (`PYPELINE_VISIBILITY_TIMEOUT`).
    visibility_timeout: int = 3600
    #: Seconds a store operation retries lost connections, deadlocks and locks (`PYPELINE_STORE_RETRY_SECONDS`).
    store_retry_seconds: float = 30.0
    #: Seconds publishing a node message retries across broker reconnects (`PYPELINE_PUBLISH_RETRY_SECONDS`).
    publish_retry_seconds: float = 30.0
    #: Seconds a running node's lease lasts without a heartbeat; a node whose lease expired is re-queued
    #: by the reconciler (`PYPELINE_LEASE_SECONDS`).
    lease_seconds: float = 30.0
    #: Seconds between lease renewals by each worker (`PYPELINE_HEARTBEAT_SECONDS`; default a third of the lease).
    heartbeat_seconds: float | None = None
    #: Whether every worker runs the leader-elected reconciler (`PYPELINE_RECONCILER`, 1/0).
    reconciler_enabled: bool = True
    #: Seconds between reconciler passes (`PYPELINE_RECONCILE_INTERVAL`).
    reconcile_interval: float = 5.0
    #: Seconds a node may sit QUEUED, with its broker queue empty, before its message counts as lost and is
    #: re-published (`PYPELINE_QUEUED_OVERDUE_SECONDS`).
    queued_overdue_seconds: float = 30.0
    #: Flask secret for dashboard sessions; the same value on every API process (`PYPELINE_SECRET_KEY`).
    secret_key: str | None = None
    #: Log level for workers and the CLI.
    log_level: str = "INFO"
    #: Workers send Celery task events (Flower, `celery events`) (`PYPELINE_TASK_EVENTS`).
    task_events: bool = True
    #: Keep node task results in the Celery result backend: "auto" (Redis backends only), "true" or "false"
    #: (`PYPELINE_TASK_RESULTS`); the run store holds them either way.
    task_results: str = "auto"
    #: File a running beat touches every tick, for liveness checks (`PYPELINE_BEAT_HEARTBEAT`;
    #: default `beat.heartbeat` under `home`).
    beat_heartbeat_file: Path | None = None
    #: Require an API key for /api/v1/openapi.json and /api/v1/docs (`PYPELINE_DOCS_REQUIRE_KEY`).
    docs_require_key: bool = False
    #: Most bytes of output kept per node attempt; 0 turns capture off (`PYPELINE_NODE_LOG_BYTES`).
    node_log_bytes: int = 1_000_000
    #: Finished runs older than this many days are pruned by beat; 0 keeps them forever
    #: (`PYPELINE_RUN_RETENTION_DAYS`).
    run_retention_days: float = 0.0

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from the environment."""
        home = Path(_env("PYPELINE_HOME", default=".pypeline") or ".pypeline")
        broker = _env("PYPELINE_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL", default=EMBEDDED_BROKER)
        return cls(
            config_path=_env("PYPELINE_CONFIG") or packaged_config_path(),
            home=home,
            broker_url=broker or EMBEDDED_BROKER,
            broker_configured=_env("PYPELINE_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL") is not None,
            secret_key=_env("PYPELINE_SECRET_KEY"),
            result_backend=_env("PYPELINE_RESULT_BACKEND", "CELERY_RESULT_BACKEND"),
            database_url=_env("PYPELINE_DATABASE_URL"),
            service=_env("PYPELINE_SERVICE", "WORKER_NAME"),
            result_expires=_env_int("PYPELINE_RESULT_EXPIRES", 86400),
            task_timeout=_env_int("PYPELINE_TASK_TIMEOUT", 3600),
            max_payload_bytes=_env_int("PYPELINE_MAX_PAYLOAD_BYTES", 1_000_000),
            max_result_bytes=_env_int("PYPELINE_MAX_RESULT_BYTES", 5_000_000),
            max_config_bytes=_env_int("PYPELINE_MAX_CONFIG_BYTES", 10_000_000),
            allow_builtin_tasks=_env_bool("PYPELINE_ALLOW_BUILTIN_TASKS"),
            embedded_poll_interval=_env_float("PYPELINE_EMBEDDED_POLL_INTERVAL", 0.01),
            prefetch_multiplier=_env_int("PYPELINE_PREFETCH", 1),
            beat_max_interval=_env_float("PYPELINE_BEAT_MAX_INTERVAL", 1.0),
            beat_catch_up=_env("PYPELINE_BEAT_CATCH_UP", default="once") or "once",
            beat_missed_after=_env_float("PYPELINE_BEAT_MISSED_AFTER", 10.0),
            beat_redispatch_after=_env_float("PYPELINE_BEAT_REDISPATCH_AFTER", 6.0),
            beat_orphan_scan_every=_env_float("PYPELINE_BEAT_ORPHAN_SCAN_EVERY", 2.0),
            beat_orphan_scan_idle_every=_env_float("PYPELINE_BEAT_ORPHAN_SCAN_IDLE_EVERY", 60.0),
            beat_offline_after=_env_float("PYPELINE_BEAT_OFFLINE_AFTER", 5.0),
            beat_prune_every=_env_float("PYPELINE_BEAT_PRUNE_EVERY", 3600.0),
            beat_fire_retention_days=_env_float("PYPELINE_BEAT_FIRE_RETENTION_DAYS", 3.0),
            beat_give_up_after=_env_float("PYPELINE_BEAT_GIVE_UP_AFTER", 86400.0),
            beat_max_fires_per_tick=_env_int("PYPELINE_BEAT_MAX_FIRES_PER_TICK", 200),
            beat_backoff_min=_env_float("PYPELINE_BEAT_BACKOFF_MIN", 1.0),
            beat_backoff_max=_env_float("PYPELINE_BEAT_BACKOFF_MAX", 30.0),
            dyrygent_tick=_env_float("PYPELINE_DYRYGENT_TICK", 1.0),
            visibility_timeout=_env_int("PYPELINE_VISIBILITY_TIMEOUT", 3600),
            store_retry_seconds=_env_float("PYPELINE_STORE_RETRY_SECONDS", 30.0),
            publish_retry_seconds=_env_float("PYPELINE_PUBLISH_RETRY_SECONDS", 30.0),
            lease_seconds=_env_float("PYPELINE_LEASE_SECONDS", 30.0),
            heartbeat_seconds=_env_float("PYPELINE_HEARTBEAT_SECONDS", 0.0) or None,
            reconciler_enabled=(_env("PYPELINE_RECONCILER", default="1") or "1").lower() not in ("0", "false", "no",
                                                                                             "off"),
            reconcile_interval=_env_float("PYPELINE_RECONCILE_INTERVAL", 5.0),
            queued_overdue_seconds=_env_float("PYPELINE_QUEUED_OVERDUE_SECONDS", 30.0),
            log_level=_env("PYPELINE_LOG_LEVEL", "LOG_LEVEL", default="INFO") or "INFO",
            task_events=_env_bool("PYPELINE_TASK_EVENTS", True),
            task_results=(_env("PYPELINE_TASK_RESULTS", default="auto") or "auto").strip().lower(),
            docs_require_key=_env_bool("PYPELINE_DOCS_REQUIRE_KEY", False),
            beat_heartbeat_file=Path(heartbeat) if (heartbeat := _env("PYPELINE_BEAT_HEARTBEAT")) else None,
            node_log_bytes=_env_int("PYPELINE_NODE_LOG_BYTES", 1_000_000),
            run_retention_days=_env_float("PYPELINE_RUN_RETENTION_DAYS", 0.0),
        )

    def with_overrides(self, **changes: object) -> Settings:
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
        if self.task_results in ("1", "true", "yes", "on"):
            return True
        if self.task_results in ("0", "false", "no", "off"):
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


_cached: Settings | None = None


def get_settings(refresh: bool = False) -> Settings:
    """The process-wide settings, read once from the environment."""
    global _cached
    if _cached is None or refresh:
        _cached = Settings.from_env()
    return _cached
