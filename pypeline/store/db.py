"""SQLAlchemy engine creation (SQLite WAL + busy timeout, PostgreSQL) and Alembic upgrades."""
from __future__ import annotations

import ast
import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool

from pypeline.errors import StoreError

__all__ = ["make_engine", "make_claim_engine", "migrate", "dispose_engines", "MIGRATIONS_DIR", "schema_heads",
           "applied_revisions"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Milliseconds SQLite waits on a locked database before failing (WAL + busy timeout, see README).
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Seconds a pooled PostgreSQL connection may sit idle before it is pinged on checkout.
PING_IF_IDLE_S = 5.0

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


def _configure_sqlite(engine: Engine, *, write: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # before anything that may wait on a lock
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if not write:
        return  # a reads-only engine: every SELECT is its own read transaction (WAL readers never wait)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock up front: a deferred transaction that later writes can fail with
        # SQLITE_BUSY without the busy handler ever being consulted.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_ping(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle (pool_pre_ping costs a round trip per checkout,
    i.e. two or three per node on the hot path); a dead one is replaced by the pool."""

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if time.monotonic() - record.info.get("pypeline_checkin", 0.0) <= PING_IF_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any driver error means the connection is unusable
            raise DisconnectionError("stale pooled connection") from exc
        if not alive:
            raise DisconnectionError("stale pooled connection")

    @event.listens_for(engine, "checkin")
    def _mark_checkin(_dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["pypeline_checkin"] = time.monotonic()


def make_engine(url: str) -> Engine:
    """A shared, process-wide engine for `url` (SQLite files get WAL and a busy timeout)."""
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {
                "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
            if ":memory:" in url or url.rstrip("/") == "sqlite:":
                kwargs["poolclass"] = StaticPool
            engine = create_engine(url, **kwargs)
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_size=5, max_overflow=10)
            _configure_ping(engine)
        _engines[url] = engine
        return engine


def make_claim_engine(url: str) -> Engine | None:
    """A shared PostgreSQL engine in autocommit mode that does not wait for commit fsync (None on SQLite).

    Only for single-statement writes whose loss in a database crash is harmless: a node claim. One round
    trip instead of BEGIN / SET LOCAL / UPDATE / COMMIT on every node's start.
    """
    return _autocommit_engine(url, "claim", pool_size=2, max_overflow=8,
                              connect_args={"options": "-c synchronous_commit=off"})


def make_finish_engine(url: str) -> Engine | None:
    """A shared PostgreSQL engine in autocommit mode with durable commits (None on SQLite).

    For the one-statement node completion (`pypeline.store.hotpath`): a single statement is its own
    transaction, so BEGIN and COMMIT would only add two round trips.
    """
    return _autocommit_engine(url, "finish", pool_size=5, max_overflow=10)


def _autocommit_engine(url: str, role: str, **kwargs: Any) -> Engine | None:
    """The shared autocommit PostgreSQL engine of `role` for `url`, created with `kwargs` (None on SQLite)."""
    if url.startswith("sqlite"):
        return None
    key = f"{url}#{role}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(url, isolation_level="AUTOCOMMIT", **kwargs)
            _configure_ping(engine)
            _engines[key] = engine
        return engine


def make_read_engine(url: str) -> Engine:
    """A shared engine for single-statement reads without a transaction around them.

    PostgreSQL: the autocommit engine of `make_finish_engine` (no BEGIN/ROLLBACK round trips per read).
    SQLite file: an engine without `BEGIN IMMEDIATE`, so reads do not queue behind writers for the write
    lock. An in-memory SQLite database is one connection: its only engine serves reads too.
    """
    finish = make_finish_engine(url)
    if finish is not None:
        return finish
    if ":memory:" in url or url.rstrip("/") == "sqlite:":
        return make_engine(url)
    make_engine(url)  # creates the file's directory
    key = url + "#read"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine, write=False)
            _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Drop pooled connections inherited across fork (call in each new worker process)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise first starts of several processes on one SQLite file (PostgreSQL uses an advisory lock).

    Switching a new file to WAL and running DDL from two processes at once can fail with "database is
    locked" without SQLite's busy handler ever waiting, so processes take turns on a lock file.
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@cache
def _revision_names(value: ast.expr) -> list[str]:
    """The revision ids a migration script assigns: a string, a tuple/list of strings, or None (no ids)."""
    items = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
    return [item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)]


def schema_heads() -> frozenset[str]:
    """The head revisions of the migrations folder, read from the scripts' source (Alembic is not imported)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        names: dict[str, list[str]] = {}
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and node.targets[0].id in ("revision", "down_revision"):
                names[node.targets[0].id] = _revision_names(node.value)
        if len(names.get("revision", [])) == 1:
            revisions.update(names["revision"])
            parents.update(names.get("down_revision", []))
    return frozenset(revisions - parents)


def applied_revisions(engine: Engine) -> frozenset[str] | None:
    """The revisions recorded in `alembic_version` (None: no such table yet), in one query outside a transaction."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT version_num FROM alembic_version")
            return frozenset(row[0] for row in cursor.fetchall())
        except engine.dialect.loaded_dbapi.Error:
            return None
        finally:
            cursor.close()
            raw.rollback()
    finally:
        raw.close()


def migrate(url: str) -> None:
    """Bring the database at `url` up to the newest schema (idempotent, once per process).

    One query compares `alembic_version` with the migration scripts' heads; Alembic is imported and
    run (under a lock) only when the database is behind.
    """
    if url in _migrated:
        return
    engine = make_engine(url)
    with _sqlite_migration_lock(engine):
        try:
            current = applied_revisions(engine)
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear store error
            raise StoreError(f"could not reach the run store at {engine.url!r}: {exc}") from exc
        if current != schema_heads():
            _upgrade(url, engine)
    _migrated.add(url)


def _upgrade(url: str, engine: Engine) -> None:
    """Run Alembic's upgrade to every head (PostgreSQL: under an advisory lock; SQLite: the caller's file lock)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Serialise concurrent first starts (worker, beat, API) on one database.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear store error
        raise StoreError(f"could not migrate the run store at {engine.url!r}: {exc}") from exc
