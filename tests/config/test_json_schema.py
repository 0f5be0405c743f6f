"""The generated JSON Schema: committed and current, complete, and agreeing with the validator both ways."""
from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pypeline.config import codes, load_config_text, schema
from pypeline.config.json_schema import build_schema, render_schema, table_names
from pypeline.config.nesting import NESTING, ROOT
from pypeline.services.config_check import check_file

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "schema" / "pypeline.schema.json"
GOOD = sorted((Path(__file__).parent / "good").glob("*.yaml"))
BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
EXAMPLE = REPO / "sermos.yaml.example"
H = "pypeline_examples.handlers_for_tests"

#: Codes of the errors a JSON Schema expresses: every bad-corpus file with one of them must fail the schema.
KEY_TYPE_CODES = {
    codes.EMPTY_FILE.id, codes.UNKNOWN_KEY.id, codes.MISSING_KEY.id, codes.WRONG_TYPE.id, codes.EMPTY_VALUE.id,
    codes.INVALID_CHOICE.id, codes.OUT_OF_RANGE.id, codes.BAD_FORMAT.id, codes.NO_NODES.id,
    codes.DUPLICATE_CHILD.id, codes.GENERATOR_KEY.id, codes.GENERATOR_NEEDS.id,
}

#: Bad-corpus files the schema is not asked to reject, and why.
EXCLUDED = {
    "yaml_syntax_error": "not YAML at all: there is no document to check",
    "yaml_unsafe_tag": "a Python tag: safe YAML cannot even build the document",
    "duplicate_node_name": "duplicate keys vanish when YAML becomes JSON (the last one wins)",
    "duplicate_pipeline_id": "duplicate keys vanish when YAML becomes JSON (the last one wins)",
    "env_var_unset": "depends on the environment at load time",
    "bad_crontab": "crontab pattern semantics (croniter), not a key or type",
    "bad_crontab_day_of_week": "crontab pattern semantics (croniter), not a key or type",
    "crontab_field_with_spaces": "crontab pattern semantics (croniter), not a key or type",
    "bad_generator_regex": "regular-expression syntax, not a key or type",
    "bad_payload_schema": "the embedded payloadSchema is validated as a JSON Schema by the validator",
    "bad_schema_version": "a version check of the validator (only 1 exists), kept out of the schema",
    "bad_timezone": "IANA timezone database lookup",
    "batch_unknown_pipeline": "cross-reference to a pipeline id",
    "schedule_unknown_pipeline": "cross-reference to a pipeline id",
    "schedule_undeclared_task": "cross-reference to serviceConfig.registeredTasks",
    "cycle": "DAG cycle: a graph property",
    "self_loop": "DAG self-loop: a graph property",
    "dag_key_without_definition": "cross-reference between dagAdjacency and taskDefinitions",
    "edge_to_unknown_node": "cross-reference between dagAdjacency and taskDefinitions",
    "duplicate_schedule_name": "uniqueness of values across entries",
    "duplicate_service_name": "uniqueness of values across entries",
    "dyrygent_filter_and_join_key": "engine-specific rule across metadata and nodes",
    "dyrygent_split": "engine-specific rule across metadata and nodes",
    "join_key_without_join": "graph property (upstream nodes of a join)",
    "split_concurrency_without_split": "cross-key rule within a node",
    "generator_sizes_reversed": "comparison of two values",
    "ambiguous_schedule_type": "the validator infers the type from the keys; reported as its own code",
    "schedule_without_target": "the validator's task-or-pipeline rule, reported with its own code",
    "task_and_pipeline": "the validator's task-or-pipeline rule, reported with its own code",
    "handler_missing_attribute": "needs importing the handler",
    "handler_needs_more_args": "needs importing the handler",
    "handler_not_callable": "needs importing the handler",
    "handler_not_importable": "needs importing the handler",
    "handler_without_event": "needs importing the handler",
    "registered_task_not_callable": "needs importing the handler",
}


def as_json(value: Any) -> Any:
    """A YAML tree as an editor sees it in JSON terms (timestamps are strings, keys are strings)."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the committed schema."""
    return jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))


def errors_of(validator: jsonschema.Draft202012Validator, path: Path) -> list[str]:
    """Schema error messages for a YAML file."""
    return [e.message for e in validator.iter_errors(as_json(yaml.safe_load(path.read_text(encoding="utf-8"))))]


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_schema(), (
        "schema/pypeline.schema.json is stale: run `pypeline schema --output schema/pypeline.schema.json`")


def test_schema_is_valid_draft_2020_12() -> None:
    generated = build_schema()
    assert generated["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(generated)


def test_every_key_the_validator_accepts_is_in_the_schema() -> None:
    generated = build_schema()
    tables = {**table_names(), "": ROOT}
    module_tables = [v for v in vars(schema).values() if isinstance(v, schema.Table)]
    assert len(tables) == len(module_tables)
    for name, table in tables.items():
        described = generated if name == "" else generated["$defs"][name]
        assert set(described["properties"]) == set(table.fields) | set(table.ignored), table.where
        for key, spec in table.fields.items():
            prop = described["properties"][key]
            assert prop.get("description"), f"{table.where}.{key} has no description (Field doc=...)"
            if spec.default is not None:
                assert prop["default"] == spec.default
            if spec.choices is not None:
                assert prop["anyOf"][0]["enum"] == list(spec.choices)
        assert set(described.get("required", [])) == {k for k, s in table.fields.items() if s.required}


def test_every_table_is_reachable_from_the_root() -> None:
    reached = {ROOT.where}
    reached |= {t.where for nest in NESTING.values() for t in nest.tables}
    assert reached == {t.where for t in [ROOT, *table_names().values()]}


@pytest.mark.parametrize("path", [EXAMPLE, *GOOD], ids=lambda p: p.stem)
def test_example_and_good_corpus_validate(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    assert errors_of(validator, path) == []


def test_bad_corpus_is_classified() -> None:
    stems = {p.stem for p in BAD}
    assert set(EXCLUDED) <= stems, set(EXCLUDED) - stems
    for path in BAD:
        found = {i.code for i in check_file(path).issues}
        if path.stem in EXCLUDED:
            assert not found & KEY_TYPE_CODES, f"{path.name} has key/type errors {found}: do not exclude it"
        else:
            assert found & KEY_TYPE_CODES, f"{path.name} ({found}) is neither a key/type case nor excluded"


@pytest.mark.parametrize("path", [p for p in BAD if p.stem not in EXCLUDED], ids=lambda p: p.stem)
def test_key_and_type_cases_of_the_bad_corpus_fail(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    assert errors_of(validator, path), f"{path.name} passes the JSON Schema"


def _config(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_env_references_stand_in_for_numbers_booleans_and_paths(
    validator: jsonschema.Draft202012Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYPELINE_TEST_TTL", "90")
    text = _config(f"""
        pipelines:
          p:
            name: p
            config:
              metadata: {{maxTtl: "${{PYPELINE_TEST_TTL}}", retryJitter: "${{JITTER:true}}", engine: "${{E:event}}"}}
              taskDefinitions:
                a: {{handler: "${{HANDLER:{H}.fetch}}"}}
        """)
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    broken = text.replace("${PYPELINE_TEST_TTL}", "ninety")
    assert list(validator.iter_errors(yaml.safe_load(broken)))


def test_yaml_language_server_modeline_is_accepted(validator: jsonschema.Draft202012Validator) -> None:
    text = _config(f"""
        # yaml-language-server: $schema=../schema/pypeline.schema.json
        pipelines:
          p:
            name: p
            config:
              taskDefinitions: {{a: {{handler: {H}.fetch}}}}
        """)
    assert load_config_text(text, "pypeline.yaml").pipeline("p").nodes["a"].handler == f"{H}.fetch"
    assert EXAMPLE.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=")
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


def test_schedule_type_selects_the_schedule_table(validator: jsonschema.Draft202012Validator) -> None:
    def schedule(body: str) -> Any:
        return {"scheduledTasks": {"s": {"name": "s", "config": {"task": f"{H}.fetch", **yaml.safe_load(body)}}}}

    assert list(validator.iter_errors(schedule("{scheduleType: interval, schedule: {every: 5, period: hours}}"))) == []
    assert list(validator.iter_errors(schedule("{scheduleType: crontab, schedule: {minute: '*/5'}}"))) == []
    assert list(validator.iter_errors(schedule("{scheduleType: crontab, schedule: {every: 5, period: hours}}")))
    assert list(validator.iter_errors(schedule("{schedule: {every: 5, period: fortnights}}")))
