"""Property-based fuzzing of the one config loader: a valid config or a clean ConfigError, fast, nothing else."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pypeline.config import load_config_text
from pypeline.config.model import PypelineConfig
from pypeline.errors import ConfigError

pytestmark = pytest.mark.hostile

EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "sermos.yaml.example").read_text()

#: Pieces of YAML syntax, config keys, tags and hostile characters that random documents are built from.
TOKENS = [
    "pipelines:", "serviceConfig:", "scheduledTasks:", "batches:", "apiConfig:", "name: p", "schemaVersion: 1",
    "config:", "dagAdjacency:", "taskDefinitions:", "handler: pypeline_examples.demo.fetch", "a: [b]", "b: []",
    "maxTtl: 60", "maxRetry: -1", "queue: q", "\n", "\n  ", "\n    ", "  ", "- ", ": ", "? ", "&a ", "&b ", "*a",
    "*b", "<<: *a", "<<: [*a, *b]", "{", "}", "[", "]", ", ", "'", '"', "|", ">", "#", "---", "...", "~",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary aGk=", "!!set {a, b}",
    "!!omap [a: 1]", "!custom", "${HOME}", "${NOPE_UNSET}", "${X:1e999}", "1e999", "0x1F", "0o17", "2026-01-01",
    "yes", "null", ".nan", "-.inf", "\x00", "\x07", "\x1b", "\ufeff", "\ud800", "\U0001f600", "é", "\t", "\r\n",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n",
]

documents = st.one_of(
    st.text(max_size=400),
    st.binary(max_size=400),
    st.lists(st.sampled_from(TOKENS), max_size=80).map("".join),
    # the real example with a random slice replaced: mostly-valid documents broken in one place
    st.tuples(st.integers(0, len(EXAMPLE_TEXT)), st.integers(0, 200),
              st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)).map(
        lambda t: EXAMPLE_TEXT[:t[0]] + t[2] + EXAMPLE_TEXT[t[0] + t[1]:]),
    # nested anchors and aliases of random width and depth: some are legal, some are bombs
    st.tuples(st.integers(1, 12), st.integers(1, 12)).map(
        lambda wd: "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "x"] * wd[0]) + "]\n"
                           for i in range(wd[1]))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(text=documents)
def test_loader_gives_a_config_or_a_config_error(text: str | bytes) -> None:
    start = time.perf_counter()
    try:
        result = load_config_text(text, "fuzz.yaml", check_handlers=False)  # type: ignore[arg-type]
    except ConfigError as exc:
        assert exc.issues and all(isinstance(i.message, str) and i.message for i in exc.issues)
        str(exc)  # the report renders
    else:
        assert isinstance(result, PypelineConfig)
    took = time.perf_counter() - start
    assert took < 2.0, f"{took:.2f} s for {text[:200]!r}"
