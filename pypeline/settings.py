"""Every tunable of Pypeline in one place, read from `PYPELINE_*` env vars (with the original's fallbacks)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings", "get_settings", "EMBEDDED_BROKER"]

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


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


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
    #: Polling interval of the embedded filesystem transport, seconds.
    embedded_poll_interval: float = 0.01
    #: Worker prefetch multiplier (1 suits long tasks; `PYPELINE_PREFETCH`).
    prefetch_multiplier: int = 1
    #: Seconds beat waits at most between looks at the schedule table (`PYPELINE_BEAT_MAX_INTERVAL`).
    beat_max_interval: float = 1.0
    #: What beat does with slots missed while no beat ran: "once" fires them once, "skip" drops them
    #: (`PYPELINE_BEAT_CATCH_UP`).
    beat_catch_up: str = "once"
    #: Seconds between ticks of the dyrygent workflow processor (`PYPELINE_DYRYGENT_TICK`; 0 = re-tick at once).
    dyrygent_tick: float = 1.0
    #: Seconds before Redis re-delivers an unacknowledged message (`PYPELINE_VISIBILITY_TIMEOUT`).
    visibility_timeout: int = 3600
    #: Flask secret for dashboard sessions; the same value on every API process (`PYPELINE_SECRET_KEY`).
    secret_key: str | None = None
    #: Log level for workers and the CLI.
    log_level: str = "INFO"
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
            config_path=_env("PYPELINE_CONFIG"),
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
            embedded_poll_interval=_env_float("PYPELINE_EMBEDDED_POLL_INTERVAL", 0.01),
            prefetch_multiplier=_env_int("PYPELINE_PREFETCH", 1),
            beat_max_interval=_env_float("PYPELINE_BEAT_MAX_INTERVAL", 1.0),
            beat_catch_up=_env("PYPELINE_BEAT_CATCH_UP", default="once") or "once",
            dyrygent_tick=_env_float("PYPELINE_DYRYGENT_TICK", 1.0),
            visibility_timeout=_env_int("PYPELINE_VISIBILITY_TIMEOUT", 3600),
            log_level=_env("PYPELINE_LOG_LEVEL", "LOG_LEVEL", default="INFO") or "INFO",
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
    def is_embedded(self) -> bool:
        """True when the broker is the embedded filesystem transport."""
        return self.broker_url.startswith(EMBEDDED_BROKER)

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
