"""A Celery app with Pypeline's production defaults (JSON only, acks_late, no lost tasks)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar, cast, overload

from celery import Celery

from pypeline.config.model import PypelineConfig
from pypeline.settings import EMBEDDED_BROKER, Settings
from pypeline.status import Status
from pypeline.store.repository import RunStore

if TYPE_CHECKING:
    from pypeline.tasks.chained import NodeRunner

__all__ = ["create_celery_app", "embedded_transport_options", "BEAT_SCHEDULER", "AppRuntime", "attach_runtime",
           "runtime_of"]

#: Celery beat scheduler class serving the database schedule table (by name: it sits in an upper layer).
BEAT_SCHEDULER = "pypeline.scheduler:DatabaseScheduler"


def embedded_transport_options(settings: Settings) -> dict[str, object]:
    """Transport options of the embedded filesystem broker (folders created on demand)."""
    base = (settings.home / "broker").resolve()
    for sub in ("messages", "processed", "control"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(base / "messages"),
        "data_folder_out": str(base / "messages"),
        "processed_folder": str(base / "processed"),
        "store_processed": False,
        "control_folder": str(base / "control"),
        "polling_interval": settings.embedded_poll_interval,
    }


def create_celery_app(settings: Settings, main: str = "pypeline") -> Celery:
    """A configured Celery app; `embedded://` maps to kombu's filesystem transport under settings.home."""
    broker = settings.broker_url
    transport_options: dict[str, object] = {}
    if broker.startswith(EMBEDDED_BROKER):
        broker = "filesystem://"
        transport_options = embedded_transport_options(settings)
        settings.home.mkdir(parents=True, exist_ok=True)
    app = Celery(main, broker=broker, backend=settings.resolved_result_backend, set_as_current=False)
    if transport_options:
        from pypeline.tasks.fs_transport import TRANSPORT

        app.conf.broker_transport = TRANSPORT  # kombu's filesystem transport with atomic writes
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=settings.prefetch_multiplier,
        result_expires=settings.result_expires,
        result_extended=False,
        task_track_started=False,
        task_soft_time_limit=settings.task_timeout,
        task_time_limit=settings.task_timeout + 10,
        task_default_queue="celery",
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=settings.task_events,  # Flower / `celery events` see tasks without -E
        task_send_sent_event=settings.task_events,
        beat_scheduler=BEAT_SCHEDULER,  # plain `celery beat` reads the schedule table
        enable_utc=True,
        timezone="UTC",
    )
    if broker.startswith(("redis://", "rediss://")):
        # Unacked messages come back after this long if a worker dies: set it above the longest node.
        app.conf.broker_transport_options = {"visibility_timeout": settings.visibility_timeout}
    return app


#: The attribute of a Celery app holding the Runtime that built it.
_RUNTIME_ATTR = "pypeline"
R = TypeVar("R")


class AppRuntime(Protocol):
    """What code below `pypeline.runtime` uses of the Runtime an app carries (`pypeline.runtime.Runtime`)."""

    settings: Settings

    @property
    def store(self) -> RunStore:
        """The run store."""
        ...

    @property
    def config(self) -> PypelineConfig:
        """The loaded config (PypelineError when none is)."""
        ...

    @property
    def has_config(self) -> bool:
        """True when a config is loaded (workers, beat, API); False for a store-only CLI runtime."""
        ...

    def runner(self, engine: str) -> NodeRunner:
        """The node runner of an engine."""
        ...

    def notify_run_finished(self, run_id: str, status: Status, *, event: str | None = None) -> None:
        """Wake up anyone waiting on the run and run its end-of-run hooks."""
        ...


def attach_runtime(app: Celery, runtime: object) -> None:
    """Make `runtime` the one `runtime_of(app)` returns (done by the Runtime that builds the app)."""
    setattr(app, _RUNTIME_ATTR, runtime)


@overload
def runtime_of(app: object) -> AppRuntime | None: ...
@overload
def runtime_of(app: object, kind: type[R]) -> R | None: ...
def runtime_of(app: object, kind: type[R] | None = None) -> AppRuntime | R | None:
    """The Runtime carried by a Celery app (None for an app Pypeline did not build, or not of type `kind`)."""
    runtime = getattr(app, _RUNTIME_ATTR, None)
    if runtime is None or (kind is not None and not isinstance(runtime, kind)):
        return None
    return cast("AppRuntime | R", runtime)
