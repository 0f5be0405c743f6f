"""schemathesis `--checks all` (positive and negative data, coverage, fuzzing, stateful) against `pypeline api`."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.support import ApiServer

pytestmark = [pytest.mark.hostile, pytest.mark.e2e, pytest.mark.slow]

#: Failures tolerated: ST202 "schema-valid request rejected" (the server is stricter than a JSON schema can
#: say: undeclared schedule targets, payloadSchema mismatches, NUL inside free-form JSON). Anything else,
#: above all ST101 (a 5xx) and ST108 (a response violating its schema), fails the test.
TOLERATED = {"ST202"}
#: schemathesis seed: fixed by default so CI is reproducible; `PYPELINE_FUZZ_SEED=random` explores new inputs.
FUZZ_SEED = os.environ.get("PYPELINE_FUZZ_SEED", "10880")
if FUZZ_SEED == "random":
    FUZZ_SEED = str(int.from_bytes(os.urandom(2), "big"))


def _failure_codes(value: Any, found: Counter[str]) -> None:
    if isinstance(value, dict):
        code = value.get("code")
        if isinstance(code, str) and code.startswith("ST") and "title" in value:
            found[f"{code} {value['title']}"] += 1
        for item in value.values():
            _failure_codes(item, found)
    elif isinstance(value, list):
        for item in value:
            _failure_codes(item, found)


def test_schemathesis_all_checks_find_no_server_error_and_no_schema_violation(api_server: ApiServer,
                                                                               tmp_path: Path) -> None:
    exe = shutil.which("schemathesis") or shutil.which("st")
    cmd = [exe] if exe else [sys.executable, "-m", "schemathesis.cli"]
    report = tmp_path / "run.ndjson"
    proc = subprocess.run(
        [*cmd, "run", f"http://127.0.0.1:{api_server.port}/api/v1/openapi.json", "-H", f"accesskey: {api_server.key}",
         "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing,stateful", "-n", "8", "-w", "2",
         "--max-time", "60", "--seed", FUZZ_SEED, "--report", "ndjson",
         "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert report.exists(), output[-3000:]
    found: Counter[str] = Counter()
    for line in report.read_text().splitlines():
        _failure_codes(json.loads(line), found)
    unexpected = {name: n for name, n in found.items() if name.split()[0] not in TOLERATED}
    server_log = api_server.log.read_text(errors="replace")
    assert not unexpected, f"{unexpected}\n{output[-6000:]}\nserver log:\n{server_log[-3000:]}"
    assert "Error handling request" not in server_log and "unexpected error in API request" not in server_log
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-3000:]
    assert selected.group(1) == selected.group(2) == tested.group(1), output[-3000:]  # every operation ran
