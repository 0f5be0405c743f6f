"""`pypeline fmt` internals: canonical key order, comments kept in place, idempotence, refusal to change data."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from pypeline.config.fmt import format_text
from pypeline.errors import ConfigError


def fmt(text: str) -> str:
    """Format dedented text."""
    return format_text(textwrap.dedent(text).lstrip())


def test_key_order_follows_the_tables_and_unknown_keys_follow() -> None:
    out = fmt("""
        batches: {}
        imageConfig: [{name: x, uri: y}]
        pipelines:
          zeta:
            config:
              taskDefinitions:
                b: {queue: q, handler: m.b}
                a: {handler: m.a}
              metadata: {maxTtl: 5, queue: q}
            name: Z
          alpha: {name: A, config: {taskDefinitions: {x: {handler: m.x}}}}
        serviceConfig:
          - registeredTasks: [m.a]
            replicaCount: 2
            name: w
        """)
    assert out == textwrap.dedent("""\
        serviceConfig:
          - name: w
            registeredTasks: [m.a]
            replicaCount: 2
        pipelines:
          zeta:
            name: Z
            config:
              metadata: {queue: q, maxTtl: 5}
              taskDefinitions:
                b: {handler: m.b, queue: q}
                a: {handler: m.a}
          alpha: {name: A, config: {taskDefinitions: {x: {handler: m.x}}}}
        batches: {}
        imageConfig: [{name: x, uri: y}]
        """)


def test_comments_stay_with_their_lines() -> None:
    out = fmt("""
        # header
        scheduledTasks:
          s:
            config:
              pipeline: p          # the target
              payload: {a: 1}
              schedule: {every: 1, period: hours}   # hourly

        # the pipelines
        pipelines:
          p:
            config:
              taskDefinitions: {a: {handler: m.a}}
            name: p   # short name
        """)
    assert out == textwrap.dedent("""\
        # header

        # the pipelines
        pipelines:
          p:
            name: p   # short name
            config:
              taskDefinitions: {a: {handler: m.a}}
        scheduledTasks:
          s:
            config:
              pipeline: p          # the target
              schedule: {every: 1, period: hours}   # hourly
              payload: {a: 1}
        """)


def test_schedule_keys_follow_the_selected_schedule_table() -> None:
    out = fmt("""
        scheduledTasks:
          c: {name: c, config: {task: m.t, schedule: {dayOfWeek: mon, hour: 3, minute: 0}}}
          i: {name: i, config: {scheduleType: interval, task: m.t, schedule: {period: hours, every: 2}}}
        """)
    assert "{minute: 0, hour: 3, dayOfWeek: mon}" in out and "{every: 2, period: hours}" in out
    assert fmt(out) == out


def test_indentation_is_normalised_and_merge_keys_are_left_alone() -> None:
    text = """
        apiConfig:
            defaults: &d
                    queue: q
        pipelines:
              p:
                  name: p
                  config:
                      metadata:
                          maxTtl: 3
                          <<: *d
                      taskDefinitions:
                          a:
                              handler: m.a
        """
    out = fmt(text)
    assert out.startswith("pipelines:\n  p:\n    name: p\n    config:\n      metadata:\n"
                          "        maxTtl: 3\n        <<: ")  # the merging mapping keeps its order
    assert yaml.safe_load(out) == yaml.safe_load(textwrap.dedent(text))


def test_invalid_yaml_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        fmt("a: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        fmt("a: 1\na: 2\n")  # duplicate keys: which one to keep is not fmt's call
