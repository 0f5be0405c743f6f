"""Parsing schedule documents: the original's shape, the flat shape, partial updates and clear errors."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pypeline.errors import InvalidInputError
from pypeline.scheduler.spec import merge_schedule, parse_schedule, spec_document

ORIGINAL: dict[str, Any] = {
    "name": "Nightly Report",
    "schemaVersion": 1,
    "enabled": True,
    "config": {
        "scheduleType": "crontab",
        "task": "acme.tasks.report",
        "queue": "etl-default",
        "exchange": "tasks",
        "routingKey": "etl.report",
        "expires": 3600,
        "schedule": {"minute": "0", "hour": "2", "dayOfWeek": "*", "dayOfMonth": "*", "monthOfYear": "*"},
        "timezone": "Europe/Paris",
        "payload": {"k": 1},
    },
}


def test_original_shape_round_trips() -> None:
    spec = parse_schedule(ORIGINAL)
    assert (spec.kind, spec.cron, spec.timezone, spec.target_kind, spec.target) == \
        ("crontab", "0 2 * * *", "Europe/Paris", "task", "acme.tasks.report")
    assert (spec.queue, spec.exchange, spec.routing_key, spec.expires, spec.payload) == \
        ("etl-default", "tasks", "etl.report", 3600, {"k": 1})
    assert parse_schedule(spec_document(spec)) == spec


def test_interval_type_is_inferred_and_periods_convert() -> None:
    spec = parse_schedule({"name": "h", "schemaVersion": 1, "enabled": False,
                           "config": {"pipeline": "etl", "schedule": {"every": 5, "period": "minutes"}}})
    assert (spec.kind, spec.interval_seconds, spec.enabled, spec.target_kind) == ("interval", 300.0, False, "pipeline")
    assert spec_document(spec)["config"]["schedule"] == {"every": 5, "period": "minutes"}


def test_sub_second_intervals_run_once_a_second() -> None:
    """Shorter than beat's resolution (MIN_INTERVAL_SECONDS) is accepted in both shapes and runs every second."""
    flat = parse_schedule({"name": "fast", "task": "a.b", "every": 0.2})
    original = parse_schedule({"name": "fast", "schemaVersion": 1,
                               "config": {"task": "a.b", "schedule": {"every": 500, "period": "microseconds"}}})
    assert flat.interval_seconds == original.interval_seconds == 1.0
    assert spec_document(original)["config"]["schedule"] == {"every": 1, "period": "seconds"}


def test_flat_shape_and_one_off() -> None:
    spec = parse_schedule({"name": "once", "task": "a.b", "at": "2030-01-01T02:00:00", "timezone": "Europe/Paris"})
    assert spec.kind == "oneoff" and spec.run_at == datetime(2030, 1, 1, 1, 0, tzinfo=timezone.utc)
    flat = parse_schedule({"name": "c", "task": "a.b", "cron": " 0  2 * * * ", "routing_key": "rk"})
    assert flat.cron == "0 2 * * *" and flat.routing_key == "rk"


@pytest.mark.parametrize(("doc", "message"), [
    ({"name": "x", "task": "a.b", "cron": "61 * * * *"}, "invalid cron expression"),
    ({"name": "x", "task": "a.b", "every": -5}, "interval must be at least one microsecond"),
    ({"name": "x", "task": "a.b", "every": 0}, "interval must be at least one microsecond"),
    ({"name": "x", "task": "a.b", "every": 1e9 * 86400}, "is too large (at most 100 years)"),
    ({"name": "x", "task": "a.b", "every": 5, "timezone": "Mars/Olympus"}, "unknown timezone"),
    ({"name": "x", "every": 5}, "needs 'task'"),
    ({"name": "x", "task": "a.b", "pipeline": "p", "every": 5}, "not both"),
    ({"name": "x", "task": "a.b", "every": 5, "cron": "* * * * *"}, "exactly one of"),
    ({"task": "a.b", "every": 5}, "name is required"),
    ({"name": "x", "task": "a.b", "every": 5, "payload": [1]}, "payload must be a JSON object"),
    ({"name": "x", "task": "a.b", "every": 5, "bogus": 1}, "unknown schedule keys ['bogus']"),
    ({"name": "x", "task": "a.b", "every": 5, "queue": "bad queue"}, "may only contain"),
    ({"name": "x", "task": "a.b", "every": 5, "expires": -1}, "expires must be a positive integer"),
    ({"name": "x", "task": "a.b", "at": "tomorrow"}, "not an ISO-8601"),
    ({**ORIGINAL, "config": {**ORIGINAL["config"], "schedule": {"minute": "0", "hour": "25"}}}, "Invalid hour"),
    ({**ORIGINAL, "config": {**ORIGINAL["config"], "scheduleType": "hourly"}}, "scheduleType must be"),
    ({**ORIGINAL, "config": {**ORIGINAL["config"], "scheduleType": "interval",
                             "schedule": {"every": -1, "period": "seconds"}}},
     "config.schedule.every: 'every' must be a number > 0, got -1"),
    ({**ORIGINAL, "config": {**ORIGINAL["config"], "scheduleType": "interval",
                             "schedule": {"every": 1, "period": "weeks"}}}, "'period' must be one of"),
    ({**ORIGINAL, "config": {**ORIGINAL["config"], "schedule": {"dayOfMonth": "31", "monthOfYear": "2"}}},
     "it never fires"),
    ({**ORIGINAL, "schemaVersion": 2}, "schemaVersion must be 1"),
])
def test_bad_documents_are_rejected_with_a_clear_message(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid schedule") as info:
        parse_schedule(doc)
    assert message in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_schedule({"name": "", "task": "a.b", "cron": "nope", "timezone": "Nowhere/X", "expires": 0})
    text = str(info.value)
    assert "name must be" in text and "invalid cron" in text and "unknown timezone" in text and "expires" in text


def test_partial_updates_in_both_shapes() -> None:
    spec = parse_schedule(ORIGINAL)
    flat = merge_schedule(spec, {"every": 30})
    assert (flat.kind, flat.interval_seconds, flat.cron, flat.target) == ("interval", 30.0, None, spec.target)
    nested = merge_schedule(spec, {"config": {"pipeline": "etl"}, "enabled": False})
    assert (nested.target_kind, nested.target, nested.enabled, nested.cron) == ("pipeline", "etl", False, spec.cron)
    with pytest.raises(InvalidInputError):
        merge_schedule(spec, {"cron": "bad"})
