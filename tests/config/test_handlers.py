"""Handler import and signature checks."""
from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pypeline.config import load_config_text
from pypeline.config.handlers import accepts_event, accepts_no_args, handler_problem, import_handler
from pypeline.errors import ConfigError
from pypeline_examples import handlers_for_tests as h

H = "pypeline_examples.handlers_for_tests"


@pytest.fixture
def user_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sys.path directory for throwaway user modules, unloaded afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cfgtest_"):
            del sys.modules[name]


def write_module(root: Path, name: str, source: str) -> None:
    """Write `name.py` under `root`."""
    (root / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def test_import_handler_plain_and_nested() -> None:
    assert import_handler(f"{H}.fetch") is h.fetch
    assert import_handler(f"{H}.Tasks.run") is h.Tasks.run
    assert import_handler("os.path.join") is __import__("os").path.join


def test_import_handler_reports_the_missing_module_not_a_parent_attribute() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"pypeline_examples\.nope"):
        import_handler("pypeline_examples.nope.fn")
    with pytest.raises(ModuleNotFoundError, match="'nope_top_level'"):
        import_handler("nope_top_level.fn")
    with pytest.raises(AttributeError, match="missing"):
        import_handler(f"{H}.Tasks.missing")


def test_signature_helpers() -> None:
    assert accepts_event(h.fetch) and accepts_event(h.any_kwargs) and accepts_event(h.load)
    assert not accepts_event(h.nightly_report) and not accepts_event(h.no_event)
    assert not accepts_event(h.needs_more)
    assert accepts_no_args(h.nightly_report) and accepts_no_args(h.any_kwargs)
    assert not accepts_no_args(h.fetch)
    assert accepts_event(max)  # builtins without an introspectable signature are trusted


@pytest.mark.parametrize(
    ("path", "needs_event", "fragment"),
    [
        (f"{H}.fetch", True, None),
        (f"{H}.any_kwargs", True, None),
        (f"{H}.Tasks.run", True, None),
        (f"{H}.nightly_report", False, None),
        (f"{H}.fetch", False, None),
        (f"{H}.nightly_report", True, "does not accept an 'event' argument"),
        (f"{H}.no_event", True, "does not accept an 'event' argument"),
        (f"{H}.no_event", False, "must accept an 'event' argument or no arguments at all"),
        (f"{H}.needs_more", True, "requires arguments other than 'event': extra"),
        (f"{H}.NOT_CALLABLE", True, f"handler '{H}.NOT_CALLABLE' is not callable (it is int)"),
        (f"{H}.nope", False, "could not be imported: AttributeError"),
        ("pypeline_examples.nope.fn", True, "could not be imported: ModuleNotFoundError: No module named"),
    ],
)
def test_handler_problem(path: str, needs_event: bool, fragment: str | None) -> None:
    problem = handler_problem(path, needs_event=needs_event)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem


def test_exception_while_importing_user_module(user_modules: Path) -> None:
    write_module(user_modules, "cfgtest_boom", "raise ValueError('boom at import')\n")
    assert handler_problem("cfgtest_boom.fn", needs_event=True) == (
        "handler 'cfgtest_boom.fn' could not be imported: ValueError: boom at import")


def test_sys_exit_while_importing_user_module(user_modules: Path) -> None:
    write_module(user_modules, "cfgtest_exit", "import sys\nsys.exit(3)\n")
    assert "could not be imported: SystemExit: 3" in (handler_problem("cfgtest_exit.fn", needs_event=True) or "")


def test_missing_dependency_inside_user_module_is_named(user_modules: Path) -> None:
    write_module(user_modules, "cfgtest_dep", "import cfgtest_not_installed_dependency\n\ndef fn(event): ...\n")
    problem = handler_problem("cfgtest_dep.fn", needs_event=True) or ""
    assert "ModuleNotFoundError: No module named 'cfgtest_not_installed_dependency'" in problem


def test_import_error_becomes_a_located_config_issue(user_modules: Path) -> None:
    write_module(user_modules, "cfgtest_syntax", "def fn(event:\n")
    with pytest.raises(ConfigError) as info:
        load_config_text(textwrap.dedent("""\
            pipelines:
              p:
                name: p
                config:
                  taskDefinitions:
                    a: {handler: cfgtest_syntax.fn}
            """), "p.yaml")
    (issue,) = info.value.issues
    assert (issue.line, issue.column) == (6, 22)
    assert issue.path == "pipelines.p.config.taskDefinitions.a.handler"
    assert issue.message.startswith("handler 'cfgtest_syntax.fn' could not be imported: SyntaxError")
