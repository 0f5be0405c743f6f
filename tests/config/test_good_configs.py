"""Files that must load, and what they load into."""
from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest
import yaml

from pypeline.config import load_config, load_config_text
from pypeline.config.model import DEFAULT_QUEUE, RetryPolicy
from pypeline.errors import ConfigError

GOOD = Path(__file__).parent / "good"
H = "pypeline_examples.handlers_for_tests"


def load(text: str, **kwargs: bool) -> object:
    """Load dedented YAML text."""
    return load_config_text(textwrap.dedent(text), "test.yaml", **kwargs)


def test_sermos_spec_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEARTBEAT_QUEUE", raising=False)
    config = load_config(GOOD / "sermos_spec_example.yaml")
    assert config.path == str(GOOD / "sermos_spec_example.yaml")
    (service,) = config.services
    assert service.name == "etl-worker"
    assert service.handlers == (f"{H}.fetch", f"{H}.transform", f"{H}.load", f"{H}.nightly_report")

    etl = config.pipeline("etl")
    assert etl.name == "etl" and etl.description == "Fetch, transform two ways, load."
    assert etl.queue == "etl-default" and etl.processor_queue == "etl-orchestrator" and etl.engine == "event"
    assert list(etl.nodes) == ["fetch", "clean", "enrich", "load"]
    assert etl.edges == (("fetch", "clean"), ("fetch", "enrich"), ("clean", "load"), ("enrich", "load"))
    clean = etl.nodes["clean"]
    assert (clean.queue, clean.max_ttl, clean.hard_time_limit) == ("etl-cpu", 600, 610)
    assert clean.retry == RetryPolicy(max_retry=2, backoff=5, jitter=True, backoff_max=300)
    assert (etl.nodes["load"].queue, etl.nodes["load"].max_ttl) == ("etl-default", 120)

    nightly = config.schedules["nightly"]
    assert nightly.name == "Nightly Report" and nightly.enabled and nightly.schedule_type == "crontab"
    assert nightly.task == f"{H}.nightly_report"
    assert (nightly.queue, nightly.exchange, nightly.routing_key, nightly.expires) == (
        "etl-default", "tasks", "etl.report", 3600)
    assert nightly.crontab == {"minute": "0", "hour": "2", "day_of_week": "*", "day_of_month": "*",
                               "month_of_year": "*"}
    assert nightly.cron_expression == "0 2 * * *"
    heartbeat = config.schedules["heartbeat"]
    assert not heartbeat.enabled and heartbeat.schedule_type == "interval"
    assert heartbeat.interval_seconds == 30.0 and heartbeat.queue == "etl-default"
    assert config.handlers == service.handlers
    assert set(config.queues()) == {"etl-default", "etl-cpu"}


def test_sermos_spec_example_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTBEAT_QUEUE", "beats")
    assert load_config(GOOD / "sermos_spec_example.yaml").schedules["heartbeat"].queue == "beats"


def test_sermos3_deployment_keys_are_ignored() -> None:
    config = load_config(GOOD / "sermos3_deployment.yaml")
    assert [s.name for s in config.services] == ["api", "worker"]
    assert config.services[0].handlers == ()
    assert config.handlers_for_service("worker") == (f"{H}.fetch", f"{H}.load")
    assert config.pipeline("ingest").edges == (("fetch", "load"),)
    assert "imageConfig" in config.raw  # kept in raw, not interpreted


def test_user_shapes() -> None:
    config = load_config(GOOD / "user_shapes.yaml")
    demo = config.pipeline("demo")
    # leaves only as children, not as dagAdjacency keys
    assert set(demo.nodes) == {"start", "left", "right"}
    assert demo.edges == (("start", "left"), ("start", "right"))
    # stray spaces stripped
    assert demo.name == "demo pipeline"
    assert demo.nodes["right"].handler == f"{H}.transform"
    assert demo.nodes["right"].queue == "slow-queue"
    assert config.services[0].handlers[1] == f"{H}.transform"
    assert config.schedules["every-five"].task == f"{H}.fetch"
    # long limits and backoffs
    assert demo.nodes["left"].max_ttl == 10800
    assert demo.nodes["left"].retry == RetryPolicy(max_retry=1, backoff=180, jitter=True, backoff_max=300)
    # omitted scheduleType inferred from the schedule keys; no-arg scheduled handler accepted
    nightly = config.schedules["nightly"]
    assert nightly.schedule_type == "crontab" and nightly.cron_expression == "30 3 * * *"
    assert config.schedules["every-five"].schedule_type == "interval"
    assert config.schedules["every-five"].interval_seconds == 300.0


def test_diamond_with_shortcut_keeps_edges_in_file_order() -> None:
    config = load(f"""
        pipelines:
          p:
            name: p
            config:
              dagAdjacency:
                a: [b, c]
                b: [c]
              taskDefinitions:
                a: {{handler: {H}.fetch}}
                b: {{handler: {H}.transform}}
                c: {{handler: {H}.load}}
        """)
    pipe = config.pipeline("p")
    assert pipe.edges == (("a", "b"), ("a", "c"), ("b", "c"))
    assert config.services == ()


def test_defaults_when_metadata_is_missing() -> None:
    config = load(f"""
        pipelines:
          p:
            name: p
            config:
              taskDefinitions:
                only: {{handler: {H}.fetch}}
        """)
    pipe = config.pipeline("p")
    node = pipe.nodes["only"]
    assert pipe.edges == () and pipe.schema_version == 1 and pipe.engine == "event"
    assert pipe.queue == DEFAULT_QUEUE == node.queue and pipe.processor_queue == DEFAULT_QUEUE
    assert node.max_ttl == 60 and node.retry == RetryPolicy() and node.priority is None


def test_standalone_task_definitions_are_nodes() -> None:
    config = load(f"""
        pipelines:
          p:
            name: p
            config:
              dagAdjacency:
                a: [b]
              taskDefinitions:
                a: {{handler: {H}.fetch}}
                b: {{handler: {H}.transform}}
                lonely: {{handler: {H}.load}}
          q:
            name: q
            config:
              dagAdjacency: {{}}
              taskDefinitions:
                x: {{handler: {H}.fetch}}
                y: {{handler: {H}.fetch}}
        """)
    assert set(config.pipeline("p").nodes) == {"a", "b", "lonely"}
    assert config.pipeline("p").edges == (("a", "b"),)
    assert set(config.pipeline("q").nodes) == {"x", "y"} and config.pipeline("q").edges == ()


def test_node_overrides_and_our_keys() -> None:
    config = load(f"""
        pipelines:
          p:
            name: p
            config:
              metadata: {{queue: q, maxRetry: 5, priority: 3, engine: event}}
              dagAdjacency:
                split: [work]
                work: [join]
                a: [both]
                b: [both]
              taskDefinitions:
                split: {{handler: {H}.fetch, split: true, splitConcurrency: 8}}
                work: {{handler: {H}.Tasks.run, filter: true, priority: 9, maxRetry: 0, retryJitter: true}}
                join: {{handler: {H}.any_kwargs, joinKey: id}}
                a: {{handler: {H}.fetch}}
                b: {{handler: {H}.fetch}}
                both: {{handler: {H}.load, joinKey: id, retryBackoff: 1, retryBackoffMax: 2, maxTtl: 5}}
              payloadSchema:
                type: object
                required: [id]
                properties: {{id: {{type: string}}}}
        """)
    pipe = config.pipeline("p")
    assert pipe.nodes["split"].split and pipe.nodes["split"].split_concurrency == 8
    work = pipe.nodes["work"]
    assert work.filter and work.priority == 9 and work.retry == RetryPolicy(max_retry=0, jitter=True)
    assert pipe.nodes["a"].priority == 3 and pipe.nodes["a"].retry.max_retry == 5
    assert pipe.nodes["join"].join_key == "id"  # downstream of a split node
    both = pipe.nodes["both"]  # two upstreams
    assert both.join_key == "id" and both.retry == RetryPolicy(max_retry=5, backoff=1, backoff_max=2)
    assert both.max_ttl == 5
    assert pipe.payload_schema == {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}


def test_dyrygent_engine_without_our_keys() -> None:
    config = load(f"""
        pipelines:
          p:
            name: p
            config:
              metadata: {{engine: dyrygent, processorQueue: orchestrator, queue: work}}
              dagAdjacency: {{a: [b]}}
              taskDefinitions:
                a: {{handler: {H}.fetch, filter: false}}
                b: {{handler: {H}.fetch}}
        """)
    pipe = config.pipeline("p")
    assert pipe.engine == "dyrygent" and pipe.processor_queue == "orchestrator"
    assert config.queues() == ("work", "orchestrator")


def test_schedules_for_pipelines_batches_and_api_config() -> None:
    config = load(f"""
        serviceConfig:
          - name: w
            registeredTasks:
              - {H}.nightly_report
        pipelines:
          p:
            name: p
            config:
              taskDefinitions: {{a: {{handler: {H}.fetch}}}}
        scheduledTasks:
          run-p:
            name: run p
            args: [1, 2]
            kwargs: {{x: 1}}
            lastRunAt: 2024-01-01T00:00:00
            totalRunCount: 4
            config:
              pipeline: p
              timezone: Europe/Warsaw
              payload: {{day: today}}
              schedule: {{minute: 0, hour: 6, dayOfWeek: mon-fri}}
          fast:
            name: fast
            config:
              task: {H}.nightly_report
              scheduleType: interval
              schedule: {{every: 1.5, period: minutes}}
        batches:
          nightly-s3:
            pipeline: p
            generator:
              type: s3
              bucket: data
              prefix: incoming/
              endpointUrl: http://localhost:9000
              region: eu-central-1
              include: ["*.csv"]
              minSize: 1
              maxSize: 100
              modifiedSince: 2024-05-01
              recursive: true
          local:
            pipeline: p
            chunkSize: 10
            concurrency: 2
            payloadKey: files
            generator: {{type: local, path: /data, regex: '^a.*', exclude: tmp, skipCommonHidden: false}}
        apiConfig:
          apiDocumentation: {{title: Demo, version: "1.0"}}
        """)
    run_p = config.schedules["run-p"]
    assert run_p.pipeline == "p" and run_p.task is None and run_p.timezone == "Europe/Warsaw"
    assert run_p.payload == {"day": "today"} and run_p.enabled
    assert run_p.cron_expression == "0 6 * * mon-fri"  # integer crontab fields accepted
    assert config.schedules["fast"].interval_seconds == 90.0
    s3 = config.batches["nightly-s3"]
    assert (s3.pipeline, s3.chunk_size, s3.concurrency, s3.payload_key) == ("p", 100, 4, "keys")
    assert s3.generator.type == "s3"
    options = s3.generator.options
    assert options["endpoint_url"] == "http://localhost:9000" and options["min_size"] == 1
    assert options["modified_since"].isoformat() == "2024-05-01T00:00:00+00:00"
    assert options["include"] == ["*.csv"] and options["recursive"] is True
    local = config.batches["local"]
    assert (local.chunk_size, local.concurrency, local.payload_key) == (10, 2, "files")
    assert local.generator.options == {"path": "/data", "regex": "^a.*", "exclude": "tmp", "skip_common_hidden": False}
    assert config.api_config == {"apiDocumentation": {"title": "Demo", "version": "1.0"}}
    assert config.services[0].handlers == (f"{H}.nightly_report",)


def test_env_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYPELINE_TEST_QUEUE", "from-env")
    monkeypatch.setenv("PYPELINE_TEST_TTL", "90")
    monkeypatch.delenv("PYPELINE_TEST_MISSING", raising=False)
    config = load(f"""
        pipelines:
          p:
            name: ${{PYPELINE_TEST_MISSING:redis://host:6379/0}}
            config:
              metadata:
                queue: ${{PYPELINE_TEST_QUEUE}}
                processorQueue: ${{PYPELINE_TEST_MISSING:}}fallback
                maxTtl: ${{PYPELINE_TEST_TTL}}
                maxRetry: ${{PYPELINE_TEST_MISSING:7}}
              taskDefinitions:
                a: {{handler: "${{PYPELINE_TEST_MISSING:{H}.fetch}}"}}
        """)
    pipe = config.pipeline("p")
    assert pipe.name == "redis://host:6379/0"  # default containing ':'
    assert pipe.queue == "from-env"
    assert pipe.processor_queue == "${PYPELINE_TEST_MISSING:}fallback"  # only whole values are interpolated
    assert pipe.nodes["a"].max_ttl == 90 and pipe.nodes["a"].retry.max_retry == 7  # plain values re-resolved
    assert pipe.nodes["a"].handler == f"{H}.fetch"


def test_quoted_env_value_stays_a_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYPELINE_TEST_TTL", "90")
    with pytest.raises(ConfigError, match=r"'maxTtl' must be an integer > 0, got a string \('90'\)"):
        load(f"""
            pipelines:
              p:
                name: p
                config:
                  metadata: {{maxTtl: "${{PYPELINE_TEST_TTL}}"}}
                  taskDefinitions: {{a: {{handler: {H}.fetch}}}}
            """)


def test_global_safe_loader_is_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYPELINE_TEST_QUEUE", "q")
    resolvers = copy.deepcopy(yaml.SafeLoader.yaml_implicit_resolvers)
    constructors = dict(yaml.SafeLoader.yaml_constructors)
    load_config(GOOD / "sermos_spec_example.yaml")
    load("pipelines: {p: {name: p, config: {metadata: {queue: '${PYPELINE_TEST_QUEUE}'}, "
         f"taskDefinitions: {{a: {{handler: {H}.fetch}}}}}}}}}}")
    assert yaml.SafeLoader.yaml_implicit_resolvers == resolvers
    assert dict(yaml.SafeLoader.yaml_constructors) == constructors
    assert yaml.safe_load("x: ${PYPELINE_TEST_QUEUE}") == {"x": "${PYPELINE_TEST_QUEUE}"}


def test_yaml_anchors_and_merge_keys() -> None:
    config = load(f"""
        apiConfig:  # any free-form mapping can hold the shared anchor
          defaults: &defaults
            queue: shared
            maxTtl: 30
        pipelines:
          p:
            name: p
            config:
              metadata:
                <<: *defaults
                maxTtl: 45
              taskDefinitions: {{a: {{handler: {H}.fetch}}}}
        """)
    assert config.pipeline("p").queue == "shared" and config.pipeline("p").nodes["a"].max_ttl == 45


def test_check_handlers_false_skips_imports() -> None:
    config = load("""
        pipelines:
          p:
            name: p
            config:
              taskDefinitions: {a: {handler: not_installed.module.fn}}
        """, check_handlers=False)
    assert config.pipeline("p").nodes["a"].handler == "not_installed.module.fn"
    with pytest.raises(ConfigError, match="could not be imported: ModuleNotFoundError"):
        load("""
            pipelines:
              p:
                name: p
                config:
                  taskDefinitions: {a: {handler: not_installed.module.fn}}
            """)


def test_a_handler_problem_is_reported_once() -> None:
    with pytest.raises(ConfigError) as info:
        load(f"""
            serviceConfig:
              - name: w
                registeredTasks: [{{handler: {H}.gone}}]
            pipelines:
              p:
                name: p
                config:
                  taskDefinitions: {{a: {{handler: {H}.gone}}, b: {{handler: {H}.gone}}}}
            """)
    assert len(info.value.issues) == 1 and info.value.issues[0].line == 4


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.issues[0].file == str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(binary)


def test_error_text_lists_every_issue_with_location() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("pipelines:\n  p:\n    nme: p\n    config: 3\n", "x.yaml")
    text = str(info.value)
    assert text.startswith("2 errors in config:")
    assert "x.yaml:3:5: [pipelines.p.nme] unknown key 'nme' in a pipeline; did you mean 'name'?" in text
    assert "x.yaml:4:13: [pipelines.p.config] 'config' must be a mapping, got an integer (3)" in text
    assert "missing required key 'name'" not in text  # the misspelt 'nme' is reported once
    assert info.value.code == "invalid_config"


def test_empty_mapping_is_a_valid_empty_config() -> None:
    config = load_config_text("{}", "pypeline.yaml")
    assert (config.services, config.pipelines, config.schedules, config.batches) == ((), {}, {}, {})
    assert config.queues() == (DEFAULT_QUEUE,)


def test_generator_options_match_the_generators_layer() -> None:
    from pypeline.config.schema import GENERATOR, snake_case
    from pypeline.generators import GENERATOR_OPTIONS

    ours = {snake_case(key) for key in GENERATOR.fields} - {"type"}
    assert ours == set().union(*GENERATOR_OPTIONS.values())
