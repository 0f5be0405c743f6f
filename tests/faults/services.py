"""Private Redis and PostgreSQL servers that fault tests stop, restart and kill (never the shared ones)."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.helpers import free_port, unavailable, wait_until

__all__ = ["free_port", "find_binary", "require_binary", "PrivateRedis", "PrivatePostgres", "SharedDatabaseCutter",
           "postgres_user", "Database"]

#: The unprivileged system user that owns private PostgreSQL clusters when tests run as root.
PG_USER = "postgres"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def find_binary(name: str) -> str | None:
    """`name` on PATH, else in the newest /usr/lib/postgresql/*/bin (Debian keeps initdb/pg_ctl there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


def require_binary(name: str) -> str:
    """The path of `name`; skip locally when it is missing, fail under CI=true."""
    path = find_binary(name)
    if path:
        return path
    unavailable(f"`{name}` is not installed: fault tests need it to start a private server",
                "CI=true: required binaries must be installed")


class PrivateRedis:
    """A throw-away `redis-server` on a free port: no persistence, so a restart empties it like a crash."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = workdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL (database 0 of the private server)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server on its port and wait until it answers PING."""
        import redis

        fh = open(self.log_path, "ab")  # noqa: SIM115 - the server process owns it
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        fh.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"redis-server exited: {self.log_path.read_text(errors='replace')}") from None
                return False

        wait_until(answers, 20, message=f"private Redis on port {self.port}", report=self.log)
        client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: clean shutdown; SIGKILL: crash) and wait until its port is closed."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        wait_until(lambda: not _port_open(self.port), 10, message=f"port {self.port} closed")

    def restart(self, down: float = 0.0) -> None:
        """SIGTERM, stay down `down` seconds, start again on the same port."""
        self.stop()
        if down:
            time.sleep(down)
        self.start()

    def log(self) -> str:
        """What the server printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def postgres_user() -> str | None:
    """The user private clusters run as: ourselves when unprivileged, `postgres` when root; None if impossible."""
    if os.geteuid() != 0:
        return ""  # run the binaries as ourselves
    try:
        import pwd

        pwd.getpwnam(PG_USER)
    except KeyError:
        return None
    return PG_USER if shutil.which("runuser") else None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free port, run as an unprivileged user.

    fsync is off and authentication is `trust` on 127.0.0.1 only; the data directory is removed on `close`.
    """

    def __init__(self, port: int | None = None) -> None:
        self.initdb = require_binary("initdb")
        self.pg_ctl = require_binary("pg_ctl")
        user = postgres_user()
        if user is None:
            raise RuntimeError("cannot run PostgreSQL as an unprivileged user here")
        self.user = user
        self.port = port or free_port()
        # Outside pytest's root-only tmp dir: the server user must be able to reach its data directory.
        self.root = Path(tempfile.mkdtemp(prefix="pypeline-faults-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        os.chmod(self.root, 0o755)
        if self.user:
            shutil.chown(self.root, self.user)

    def _run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", self.user, "--", *cmd] if self.user else list(cmd)
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, cwd=str(self.root))
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                                 f"{self.log()[-3000:]}")
        return proc

    def init(self) -> None:
        """Create the cluster (trust auth, superuser `postgres`)."""
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def _options(self) -> str:
        return (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-o", self._options, "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect clients; `immediate`: crash-like)."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every client connection is cut, the server is back within about a second."""
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-o", self._options, "-m", "fast",
                  "-w", "-t", "60", "restart")

    def running(self) -> bool:
        """Whether the server process is up."""
        full = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run([*full, self.pg_ctl, "-D", str(self.data), "status"], capture_output=True,
                              cwd=str(self.root)).returncode == 0

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import sqlalchemy as sa

        name = f"faults_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return self.url(name)

    def log(self) -> str:
        """The server log."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Stop the server (if up) and remove its files."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class SharedDatabaseCutter:
    """Fallback where no private cluster can run: faults on the test's OWN database of the shared server.

    `restart` terminates every backend of that database (`pg_terminate_backend`), `stop` also refuses new
    connections to it (`ALLOW_CONNECTIONS false`) until `start`. No other database is ever touched.
    """

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy as sa

        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"faults_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self._url = admin_url.rsplit("/", 1)[0] + "/" + self.name

    def url(self, database: str = "") -> str:
        """The URL of the test's own database (the only one this object cuts)."""
        return self._url

    def create_database(self) -> str:
        """The test's own database (one per cutter)."""
        return self._url

    def _terminate(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def restart(self) -> None:
        """Cut every connection to the test's database."""
        self._terminate()

    def stop(self, mode: str = "fast") -> None:
        """Refuse new connections to the test's database and cut the existing ones."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
        self._terminate()

    def start(self) -> None:
        """Accept connections to the test's database again."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def log(self) -> str:
        """No server log of our own on the shared server."""
        return ""

    def close(self) -> None:
        """Drop the test's database."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


#: Either a private cluster or, where the machine cannot run one, the fallback on the shared server.
Database = PrivatePostgres | SharedDatabaseCutter
