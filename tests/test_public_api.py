"""The curated public API: `pypeline.__all__`, its lazy names, and docs/api-reference.md agreeing with both."""
from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import pypeline

DOC = Path(__file__).resolve().parent.parent / "docs" / "api-reference.md"
_ENTRY = re.compile(r"^- \*\*`(?P<name>[^`]+)`\*\* `(?P<signature>[^`]+)` — (?P<description>\S.*)$")


def _documented() -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ENTRY.match(line)
        if match:
            assert match["name"] not in entries, f"{match['name']} documented twice"
            entries[match["name"]] = (match["signature"], match["description"])
    return entries


def _signature(name: str, obj: Any) -> str:
    """How the reference writes a name's signature: parameters and defaults, no annotations."""
    if name == "__version__":
        return name
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return f"class {name}({', '.join(base.__name__ for base in obj.__bases__)})"
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        return f"class {name}({', '.join(base.__name__ for base in obj.__bases__)})"
    if name == "Settings":  # its fields are the settings table; the reference shows how to build one
        obj, name = obj.from_env, "Settings.from_env"
    sig = inspect.signature(obj)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return name + str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def test_reference_lists_exactly_the_exported_names() -> None:
    assert len(pypeline.__all__) == len(set(pypeline.__all__))
    assert sorted(_documented()) == sorted(pypeline.__all__)


@pytest.mark.parametrize("name", pypeline.__all__)
def test_reference_signature_matches_the_code(name: str) -> None:
    signature, description = _documented()[name]
    assert signature == _signature(name, getattr(pypeline, name))
    assert description.endswith(".") and len(description) < 200


@pytest.mark.parametrize("name", pypeline.__all__)
def test_every_exported_name_is_its_home_module_object(name: str) -> None:
    value = getattr(pypeline, name)
    home = pypeline._LAZY.get(name)
    if home is not None:
        assert value is getattr(importlib.import_module(home), name)
    if name != "__version__":
        assert inspect.getdoc(value), f"{name} has no docstring"


def test_unknown_names_and_star_import() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        pypeline.Nope  # noqa: B018
    assert set(pypeline.__all__) <= set(dir(pypeline))
    namespace: dict[str, Any] = {}
    exec("from pypeline import *", namespace)
    assert namespace["Runtime"] is pypeline.Runtime and namespace["PypelineError"] is pypeline.PypelineError


def test_every_error_is_exported() -> None:
    from pypeline import errors

    assert set(errors.__all__) <= set(pypeline.__all__)
    for name in errors.__all__:
        value = getattr(pypeline, name)
        assert name == "ConfigIssue" or issubclass(value, pypeline.PypelineError)
