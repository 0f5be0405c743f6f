"""Start-up cost of the CLI: what `--help` and `validate` import, the lazy command table, a fast embedded stop."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pypeline.cli import COMMANDS, cli
from pypeline.runtime import Runtime
from tests.helpers import EXAMPLE

#: Libraries a command that needs no run store, broker or graph analysis must not import.
HEAVY = {"sqlalchemy", "alembic", "networkx", "celery", "kombu", "pydantic", "flask", "boto3"}

_PROBE = """
import json, sys
from pypeline.cli import cli
sys.argv = ["pypeline", *json.loads(sys.argv[1])]
try:
    cli(prog_name="pypeline")  # what main() runs, without its os._exit: the probe reports afterwards
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})) + "\\n")
sys.exit(code)
"""


def _top_level_modules(*args: str) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                          timeout=60)
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return done.returncode, set(json.loads(line.removeprefix("MODULES "))), done.stdout


def test_help_imports_no_heavy_library() -> None:
    code, modules, out = _top_level_modules("--help")
    assert code == 0 and "validate" in out and "schedules" in out
    assert modules & (HEAVY | {"rich", "yaml", "jsonschema"}) == set()


def test_import_pypeline_imports_no_heavy_library() -> None:
    code = ("import json, sys, pypeline; pypeline.Status; pypeline.PypelineError; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = set(json.loads(done.stdout))
    assert modules & (HEAVY | {"rich", "yaml", "jsonschema", "croniter", "click"}) == set()
    lazy = ("import json, sys, pypeline; pypeline.Runtime; pypeline.FlaskPypeline; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, timeout=60, check=True)
    assert {"celery", "sqlalchemy", "flask"} <= set(json.loads(done.stdout))  # the probe can see heavy imports


def test_validate_without_handlers_imports_no_heavy_library() -> None:
    code, modules, out = _top_level_modules("validate", "--no-handlers", str(EXAMPLE))
    assert code == 0 and "OK" in out
    assert modules & HEAVY == set()


def test_every_listed_command_loads_with_the_listed_help() -> None:
    ctx = click.Context(cli)
    for name, (_module, _attr, short_help) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
        assert (command.help or "").splitlines()[0].strip() == short_help, name
    assert cli.get_command(ctx, "no-such-command") is None


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_embedded_worker_stops_at_once_when_idle(pypeline_home: Path) -> None:
    rt = Runtime.from_path(str(EXAMPLE))
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("demo", origin="test")
        assert rt.wait(run_id, timeout=60)["status"] == "SUCCESS"
        started = time.monotonic()
    # Celery's blocking loop used to sit out one or two 2 s drain cycles here.
    assert time.monotonic() - started < 1.5


def test_embedded_run_on_a_current_schema_imports_no_migration_redis_or_graph_library(pypeline_home: Path) -> None:
    first, _, out = _top_level_modules("run", str(EXAMPLE), "demo")  # a fresh home: creates the SQLite store
    assert first == 0 and '"load"' in out
    code, modules, out = _top_level_modules("run", str(EXAMPLE), "demo")
    assert code == 0 and '"load"' in out
    # The embedded default needs no Redis client (a 0.1-0.5 s import), no Alembic once the schema is current,
    # no networkx, and no live display when stderr is not a terminal.
    assert modules & {"redis", "alembic", "networkx", "flask", "boto3"} == set()
    assert "rich.live" not in _full_modules("run", str(EXAMPLE), "demo")


def _full_modules(*args: str) -> set[str]:
    probe = _PROBE.replace('{m.split(".")[0] for m in sys.modules}', "set(sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True, timeout=60)
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.parametrize("args", [["runs", "--help"], ["schedules", "list", "--help"]])
def test_group_help_still_works(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "Usage:" in result.output


_EXIT_PROBE = """
import atexit, os, sys, threading, time
from pypeline.cli import main
out = sys.argv[1]
atexit.register(lambda: open(out + ".atexit", "w").close())
def late() -> None:
    time.sleep(0.3)
    open(out + ".thread", "w").close()
if sys.argv[2] == "thread":
    threading.Thread(target=late).start()
sys.stdout.write("buffered, unflushed ")
sys.argv = ["pypeline", *sys.argv[3:]]
main()
"""


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["validate", "/no/such/file.yaml"], 1),
                                            (["no-such-command"], 2)])
@pytest.mark.parametrize("thread", ["none", "thread"])
def test_main_exits_with_the_command_status_after_exit_hooks_threads_and_flushes(
    tmp_path: Path, args: list[str], code: int, thread: str
) -> None:
    marker = tmp_path / "m"
    done = subprocess.run([sys.executable, "-c", _EXIT_PROBE, str(marker), thread, *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith("buffered, unflushed ")  # stdout flushed before the fast exit
    assert (tmp_path / "m.atexit").exists()  # exit hooks ran
    if thread == "thread":
        assert (tmp_path / "m.thread").exists()  # a live non-daemon thread was waited for
    if code == 0:
        assert "Usage:" in done.stdout
