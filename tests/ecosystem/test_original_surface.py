"""The original PypeLine's import surface (sermos-compat §1) and an original-style client project, unchanged."""
from __future__ import annotations

import importlib
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pypeline.settings import get_settings, packaged_config_path

#: sermos-compat §1: every module and public name of scalable-pypeline 1.2.3.
REFERENCE = {
    "pypeline.celery": ["configure_celery", "GenerateCeleryTasks", "task_chain_regulator", "pipeline_success"],
    "pypeline.pipeline.chained_task": ["ChainedTask"],
    "pypeline.pipeline.generator": ["PipelineGenerator"],
    "pypeline.celery_beat": ["SermosScheduler", "SermosEntry", "instantiate_celery_schedule", "convert_to_datetime"],
    "pypeline.utils.task_utils": ["get_service_config_for_worker", "get_task_signature", "PipelineRunWrapper",
                                  "PipelineResult", "TaskRunner"],
    "pypeline.utils.graph_utils": ["get_execution_graph", "find_entry_points", "find_successors",
                                   "get_chainable_tasks", "find_all_nodes", "find_all_edges"],
    "pypeline.utils.config_utils": ["retrieve_latest_pipeline_config", "retrieve_latest_schedule_config",
                                    "update_schedule_config", "load_json_config_from_redis",
                                    "set_json_config_to_redis", "get_access_key", "get_deployment_id"],
    "pypeline.utils.module_utils": ["SermosModuleLoader", "normalized_pkg_name", "get_client_pkg_name",
                                    "match_prefix", "match_suffix", "find_from_environment"],
    "pypeline.sermos_yaml": ["SermosYamlSchema", "parse_config_file", "load_sermos_config",
                             "load_client_config_and_version", "YamlPatternConstructor", "InvalidPackagePath",
                             "InvalidSermosConfig", "MissingSermosConfig"],
    "pypeline.pipeline_config_schema": ["BasePipelineSchema", "PipelineSchemaV1", "PipelineConfigSchemaV1",
                                        "MetadataSchema", "TaskDefinitionsSchema", "PipelineConfigValidator"],
    "pypeline.schedule_config_schema": ["BaseScheduleSchema", "ScheduleSchemaV1", "ScheduleConfigSchemaV1",
                                        "IntervalScheduleSchema", "CrontabScheduleSchema"],
    "pypeline.generators": ["KeyGenerator", "S3KeyGenerator", "LocalKeyGenerator"],
    "pypeline.flask": ["FlaskSermos", "Blueprint", "Api", "abort"],
    "pypeline.flask.decorators": ["require_accesskey", "validate_access_key"],
    "pypeline.flask.api.utils": ["chain_helper"],
    "pypeline.extensions": ["sermos_config", "sermos_client_version"],
}
#: Names the new code still owns under the same path (not deprecated).
CURRENT = {("pypeline.utils.task_utils", "TaskRunner"), ("pypeline.generators", "KeyGenerator"),
           ("pypeline.generators", "S3KeyGenerator"), ("pypeline.generators", "LocalKeyGenerator")}


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, names in REFERENCE.items() for n in names])
def test_every_original_name_imports_and_points_to_its_replacement(module: str, name: str,
                                                                   pypeline_home: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(importlib.import_module(module), name)
    assert value is not None or name == "sermos_config"
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning) and name in str(w.message)]
    if (module, name) in CURRENT:
        assert deprecations == []
    else:
        assert len(deprecations) == 1 and re.search(r"deprecated; use \S", str(deprecations[0].message))
    assert name in importlib.import_module(module).__all__


def test_unknown_names_still_raise_attribute_error() -> None:
    import pypeline.flask

    with pytest.raises(AttributeError):
        pypeline.flask.NoSuchThing  # noqa: B018
    from pypeline.pipeline import Pipeline  # the Python API keeps its path now that pipeline is a package

    assert Pipeline.__module__ == "pypeline.pipeline"


def test_graph_utils_waves_run_each_node_once() -> None:
    from pypeline.utils.graph_utils import find_entry_points, get_chainable_tasks, get_execution_graph

    config = {"dagAdjacency": {"a": ["b", "c"], "b": ["c"]},  # c is a leaf listed only as a child
              "taskDefinitions": {n: {"handler": f"m.{n}"} for n in "abc"}}
    graph = get_execution_graph(config)
    assert find_entry_points(graph) == ["a"]
    assert get_chainable_tasks(graph) == [["a"], ["b"], ["c"]]  # the original ran c twice


def test_schema_classes_apply_the_real_rules() -> None:
    from marshmallow import ValidationError

    from pypeline.pipeline_config_schema import PipelineConfigValidator
    from pypeline.schedule_config_schema import CrontabScheduleSchema, IntervalScheduleSchema

    good = {"metadata": {"queue": "q"}, "dagAdjacency": {"a": ["b"]},
            "taskDefinitions": {"a": {"handler": "m.a"}, "b": {"handler": "m.b"}}}
    assert PipelineConfigValidator(config_dict=good).is_valid
    with pytest.raises(ValidationError) as bad:
        PipelineConfigValidator(config_dict={**good, "dagAdjacency": {"a": ["zz"]}})
    assert "zz" in str(bad.value.messages)
    assert CrontabScheduleSchema().validate({"minute": "61"}) != {}
    assert IntervalScheduleSchema().load({"every": 5, "period": "minutes"}) == {"every": 5, "period": "minutes"}


CLIENT_YAML = """\
serviceConfig:
  - name: acme-worker
    registeredTasks:
      - handler:  acme_jobs.tasks.fetch
      - handler: acme_jobs.tasks.load
      - handler: acme_jobs.tasks.cron_task
pipelines:
  etl:
    name: etl
    schemaVersion: 1
    config:
      metadata:
        queue: {queue}
        maxRetry: 1
        maxTtl: 60
        retryBackoff: 1
        retryBackoffMax: 5
        retryJitter: true
      dagAdjacency:
        fetch: [load]
      taskDefinitions:
        fetch: {{handler: acme_jobs.tasks.fetch}}
        load: {{handler: acme_jobs.tasks.load}}
scheduledTasks:
  nightly:
    name: Nightly
    schemaVersion: 1
    enabled: true
    config:
      task: acme_jobs.tasks.cron_task
      queue: {queue}
      schedule: {{minute: "0", hour: "2", dayOfWeek: "*", dayOfMonth: "*", monthOfYear: "*"}}
"""

CLIENT_TASKS = '''\
from pypeline.utils.task_utils import PipelineRunWrapper


def fetch(event):
    wrapper = PipelineRunWrapper.from_event(event)
    return {"seen": wrapper.chain_payload, "execution_id": wrapper.execution_id,
            "nodes": sorted(t["name"] for t in wrapper.celery_task_status)}


def load(event):
    wrapper = PipelineRunWrapper.from_event(event)
    return {"loaded": wrapper.chain_payload["rows"], "pipeline": wrapper.pipeline_id}


def cron_task():
    return "ran"
'''


@pytest.fixture()
def client_package(tmp_path: Path, pypeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An original-style client package `acme_jobs` shipping sermos.yaml, found by SERMOS_CLIENT_PKG_NAME."""
    pkg = tmp_path / "client" / "acme_jobs"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "1.2.3"\n')
    (pkg / "tasks.py").write_text(CLIENT_TASKS)
    (pkg / "sermos.yaml").write_text(CLIENT_YAML.format(queue=f"acme-{tmp_path.name[-8:]}"))
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setenv("SERMOS_CLIENT_PKG_NAME", "acme-jobs")  # dashed, as the original allowed
    monkeypatch.setenv("PYPELINE_SECRET_KEY", "s3cret-for-sessions")
    get_settings(refresh=True)
    yield "acme_jobs"
    for name in [m for m in sys.modules if m == "acme_jobs" or m.startswith("acme_jobs.")]:
        del sys.modules[name]
    import pypeline.extensions

    pypeline.extensions._loaded.cache_clear()
    get_settings(refresh=True)


def test_config_is_found_in_the_client_package(client_package: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "client" / "acme_jobs"
    assert get_settings().config_path == str(pkg / "sermos.yaml")
    (pkg / "conf").mkdir()
    (pkg / "conf" / "other.yaml").write_text((pkg / "sermos.yaml").read_text())
    monkeypatch.setenv("SERMOS_YAML_PATH", "conf/other.yaml")
    assert packaged_config_path() == str(pkg / "conf" / "other.yaml")
    monkeypatch.delenv("SERMOS_YAML_PATH")
    (pkg / "sermos.yaml").rename(pkg / "pypeline.yaml")
    monkeypatch.delenv("SERMOS_CLIENT_PKG_NAME")
    monkeypatch.setenv("PYPELINE_CLIENT_PKG_NAME", "acme_jobs")
    assert packaged_config_path() == str(pkg / "pypeline.yaml")
    monkeypatch.setenv("PYPELINE_CONFIG", "/explicit.yaml")
    assert get_settings(refresh=True).config_path == "/explicit.yaml"  # PYPELINE_CONFIG wins


def test_original_style_client_runs_unchanged(client_package: str) -> None:
    """FlaskSermos in a host app without a secret, the original's invoke route, chain_helper and results."""
    from flask import Flask

    from pypeline.extensions import sermos_client_version, sermos_config
    from pypeline.flask import FlaskSermos
    from pypeline.flask.api.utils import chain_helper
    from pypeline.services import keys as key_service
    from pypeline.utils.task_utils import PipelineResult

    assert sermos_client_version == "1.2.3" and set(sermos_config["pipelines"]) == {"etl"}
    app = Flask("host_app")  # the host app sets no secret_key
    sermos = FlaskSermos()
    sermos.init_app(app)
    assert app.secret_key == "s3cret-for-sessions"
    rt = sermos.runtime
    key = key_service.create_key(rt, "client", "write").token
    client = app.test_client()
    with rt.embedded_worker(concurrency=2):
        resp = client.post("/api/v1/pipelines/invoke/etl", json={"chain_payload": {"rows": 3}},
                           headers={"accesskey": key})
        assert resp.status_code == 202, resp.json
        run = rt.wait(resp.json["execution_id"], timeout=60)
        gen = chain_helper("etl", chain_payload={"rows": 7})
        assert gen.good_to_go and gen.chain is not None
        gen.chain.apply_async()
        second = rt.wait(gen.execution_id, timeout=60)
    assert run["status"] == "SUCCESS", run
    nodes = {n["node"]: n["result"] for n in rt.store.node_runs(run["id"])}
    assert nodes["fetch"] == {"seen": {"rows": 3}, "execution_id": run["id"], "nodes": ["fetch", "load"]}
    assert nodes["load"] == {"loaded": 3, "pipeline": "etl"}
    assert second["status"] == "SUCCESS"
    result = PipelineResult(gen.execution_id)
    result.load()
    assert result.status == "success" and result.to_dict()["result"] == second["result"]
    missing = PipelineResult("no-such-run")
    missing.load()
    assert missing.status == "unavailable"
    results = client.get(f"/api/v1/pipelines/results/{gen.execution_id}", headers={"accesskey": key})
    assert results.status_code == 200 and results.json["status"] == "success"

    login = client.get("/ui/login")
    assert login.status_code == 200  # sessions work: no 500 without the host app's secret
    csrf = re.search(rb'name="csrf" value="([^"]+)"', login.data).group(1).decode()
    logged_in = client.post("/ui/login", data={"key": key, "csrf": csrf, "next": "/ui/"})
    assert logged_in.status_code == 302
    assert client.get("/ui/").status_code == 200


def test_host_app_without_any_secret_gets_a_process_key(pypeline_home: Path, caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from flask import Flask

    from pypeline.api import FlaskPypeline
    from tests.helpers import EXAMPLE

    monkeypatch.delenv("PYPELINE_SECRET_KEY", raising=False)
    get_settings(refresh=True)
    app = Flask("host_app")
    FlaskPypeline(app, config_path=str(EXAMPLE))
    assert isinstance(app.secret_key, str) and len(app.secret_key) >= 32
    assert "PYPELINE_SECRET_KEY is not set" in caplog.text
    kept = Flask("host_with_secret")
    kept.secret_key = "the-host-app-s-own"
    FlaskPypeline(kept, config_path=str(EXAMPLE))
    assert kept.secret_key == "the-host-app-s-own"


def test_original_decorators_check_real_keys(client_package: str) -> None:
    from flask import Flask

    from pypeline.flask import FlaskSermos
    from pypeline.flask.decorators import require_accesskey, validate_access_key
    from pypeline.services import keys as key_service

    app = Flask("host_app")
    sermos = FlaskSermos(app)

    @app.post("/mine")
    @require_accesskey
    def mine() -> dict[str, bool]:
        return {"ok": True}

    reader = key_service.create_key(sermos.runtime, "r", "read").token
    writer = key_service.create_key(sermos.runtime, "w", "write").token
    client = app.test_client()
    assert client.post("/mine").status_code == 401
    assert client.post("/mine", headers={"accesskey": reader}).status_code == 401  # a write needs a write key
    assert client.post("/mine", headers={"accesskey": writer}).json == {"ok": True}
    assert client.post(f"/mine?accesskey={writer}").status_code == 200
    with app.app_context():
        assert validate_access_key(reader) and not validate_access_key("nope") and not validate_access_key(None)
