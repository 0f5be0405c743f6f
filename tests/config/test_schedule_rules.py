"""One schedule parser: every schedule `pypeline validate` accepts, beat accepts; every one it rejects, beat rejects.

Config validation (`load_config`) and beat (`spec_from_config` for config schedules, `parse_schedule`
for the same document sent through the API) share `pypeline.config.schedule_timing`. The documents
generated here are the config format's (`scheduleType` interval/crontab or inferred, `every` with a
`period`); the API's extras (one-off `{at}`, a bare `every`) are outside it.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pypeline.config import load_config_text
from pypeline.config.schedule_timing import (
    CRONTAB_FIELDS,
    INTERVAL_PERIODS,
    MIN_INTERVAL_SECONDS,
    SHORTEST_INTERVAL_SECONDS,
    effective_interval,
)
from pypeline.config.yaml_source import parse_yaml
from pypeline.errors import ConfigError, InvalidInputError
from pypeline.scheduler.spec import ScheduleSpec, parse_schedule, spec_from_config

TASK = "tests.scheduler.handlers.count_fire"
PREFIX = "scheduledTasks.s."

_EVERY = st.one_of(
    st.integers(min_value=-3, max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([500, 0.5, 1e-7, 1e-6, 0.999e-6, 0, 36525, 36526]),
    st.sampled_from(["5", True, None]),
)
_PERIOD = st.one_of(st.sampled_from([*INTERVAL_PERIODS, "weeks", "Seconds"]), st.just(5))
_CRON_FIELD = st.one_of(
    st.sampled_from(["*", "0", "30", "*/5", "1-5", "mon-fri", "jan", "61", "25", "31", "30", "2", "feb", "x", "",
                     "1 2", " 7 ", "*/0", "1,2,3", "L"]),
    st.integers(min_value=-1, max_value=62),
    st.just(True),
)
#: Values that make the whole expression impossible together (31 February) though each field is valid.
_DATE_FIELDS = {"dayOfMonth": st.sampled_from(["30", "31", 31, "29", "1"]),
                "monthOfYear": st.sampled_from(["2", "feb", 2, "4", "*"])}
_TIMEZONE = st.sampled_from([None, "UTC", "Europe/Paris", "America/New_York", "Mars/Olympus", " UTC "])


@st.composite
def _schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A config `scheduledTasks` entry with arbitrary (often invalid) timing fields."""
    config: dict[str, Any] = {"task": TASK}
    stype = draw(st.sampled_from([None, "interval", "crontab"]))
    if stype is not None:
        config["scheduleType"] = stype
    if draw(st.booleans()):
        config["schedule"] = {"every": draw(_EVERY), "period": draw(_PERIOD)}
    else:
        keys = draw(st.lists(st.sampled_from(sorted(CRONTAB_FIELDS)), min_size=1, max_size=5, unique=True)
                    | st.just(["dayOfMonth", "monthOfYear"]))
        config["schedule"] = {key: draw(st.one_of(_CRON_FIELD, _DATE_FIELDS.get(key, _CRON_FIELD))) for key in keys}
    timezone = draw(_TIMEZONE)
    if timezone is not None:
        config["timezone"] = timezone
    return {"name": "s", "schemaVersion": 1, "enabled": True, "config": config}


def _config_text(entry: dict[str, Any]) -> str:
    return yaml.safe_dump({"serviceConfig": [{"name": "w", "registeredTasks": [{"handler": TASK}]}],
                           "scheduledTasks": {"s": entry}}, sort_keys=False)


def _timing(spec: ScheduleSpec) -> tuple[Any, ...]:
    return spec.kind, spec.cron, spec.interval_seconds, spec.timezone


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schedules())
def test_config_and_beat_accept_and_reject_the_same_schedules(entry: dict[str, Any]) -> None:
    text = _config_text(entry)
    doc = parse_yaml(text).data["scheduledTasks"]["s"]  # the very tree the config validated
    try:
        config = load_config_text(text, check_handlers=False)
    except ConfigError as exc:
        with pytest.raises(InvalidInputError) as rejected:
            parse_schedule(doc)
        shown = str(rejected.value)
        for issue in exc.issues:
            assert issue.path.startswith(PREFIX), issue
            where = issue.path[len(PREFIX):]
            if where.startswith("config.schedule"):
                assert f"{where}: {issue.message}" in shown, (issue, shown)
            elif where == "config.timezone" and issue.code == "PYP305":
                assert issue.message in shown, (issue, shown)
        return
    from_config = spec_from_config(config.schedules["s"])
    from_api = parse_schedule(doc)
    assert _timing(from_config) == _timing(from_api)
    if from_config.kind == "interval":
        written = config.schedules["s"].interval_seconds
        assert written is not None and written >= SHORTEST_INTERVAL_SECONDS
        assert from_config.interval_seconds == effective_interval(written) >= MIN_INTERVAL_SECONDS


@pytest.mark.parametrize(("schedule", "message"), [
    ({"every": 0.5, "period": "microseconds"}, "interval must be at least one microsecond"),
    ({"every": 36526, "period": "days"}, "interval of 36526 days is too large (at most 100 years)"),
    ({"dayOfMonth": "31", "monthOfYear": "2"}, "it never fires (no such date)"),
    ({"minute": "61"}, "Invalid minute: `61`. Must be valid crontab pattern."),
])
def test_config_and_api_report_a_broken_timing_alike(schedule: dict[str, Any], message: str) -> None:
    entry = {"name": "s", "schemaVersion": 1, "config": {"task": TASK, "schedule": schedule}}
    with pytest.raises(ConfigError) as config_error:
        load_config_text(_config_text(entry), check_handlers=False)
    with pytest.raises(InvalidInputError) as api_error:
        parse_schedule(entry)
    assert any(message in issue.message and issue.code in ("PYP307", "PYP308") for issue in config_error.value.issues)
    assert message in str(api_error.value)


def test_the_originals_microseconds_interval_is_accepted_and_runs_once_a_second() -> None:
    entry = {"name": "s", "schemaVersion": 1,
             "config": {"task": TASK, "scheduleType": "interval", "schedule": {"every": 500, "period": "microseconds"}}}
    schedule = load_config_text(_config_text(entry), check_handlers=False).schedules["s"]
    assert schedule.interval_seconds == pytest.approx(0.0005)
    assert spec_from_config(schedule).interval_seconds == MIN_INTERVAL_SECONDS
    assert parse_schedule(entry).interval_seconds == MIN_INTERVAL_SECONDS
