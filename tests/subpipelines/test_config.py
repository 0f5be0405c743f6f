"""Config checks of sub-pipeline nodes: the target exists, no pipeline starts itself, one kind of node each."""
from __future__ import annotations

from pypeline.config import load_config_text
from pypeline.config.subpipelines import SUBPIPELINE_HANDLER
from pypeline.services.config_check import check_text


def _pipe(pid: str, nodes: str) -> str:
    return f"  {pid}:\n    name: {pid}\n    config:\n      taskDefinitions:\n{nodes}"


def _issues(text: str) -> set[tuple[str, int | None, str]]:
    return {(i.code, i.line, i.path) for i in check_text("pipelines:\n" + text).issues}


def test_a_valid_sub_pipeline_node_runs_the_built_in_handler() -> None:
    config = load_config_text("serviceConfig:\n  - name: svc\n    registeredTasks: [{handler: m.a}]\npipelines:\n"
                              + _pipe("outer", "        a: {handler: m.a}\n        sub: {pipeline: inner}\n")
                              + _pipe("inner", "        b: {handler: m.a}\n"), check_handlers=False)
    node = config.pipelines["outer"].nodes["sub"]
    assert node.pipeline == "inner" and node.handler == SUBPIPELINE_HANDLER
    assert SUBPIPELINE_HANDLER in config.handlers
    assert config.handlers_for_service("svc") == ("m.a", SUBPIPELINE_HANDLER)  # any service's worker runs it


def test_unknown_target_is_located_and_suggested() -> None:
    issues = check_text("pipelines:\n" + _pipe("outer", "        sub: {pipeline: inmer}\n")
                        + _pipe("inner", "        b: {handler: m.a}\n")).issues
    (issue,) = issues
    assert (issue.code, issue.line, issue.suggestion) == ("PYP304", 6, "inner")
    assert issue.path == "pipelines.outer.config.taskDefinitions.sub.pipeline"


def test_a_pipeline_starting_itself_directly_or_through_others_is_refused() -> None:
    assert _issues(_pipe("p", "        sub: {pipeline: p}\n")) == {
        ("PYP211", 6, "pipelines.p.config.taskDefinitions.sub.pipeline")}
    found = check_text("pipelines:\n" + _pipe("a", "        x: {pipeline: b}\n")
                       + _pipe("b", "        y: {pipeline: c}\n")
                       + _pipe("c", "        z: {pipeline: a}\n        w: {handler: m.w}\n")).issues
    assert [(i.code, i.line) for i in found] == [("PYP211", 6)]
    assert "a -> b -> c -> a" in found[0].message


def test_a_node_is_a_handler_or_a_sub_pipeline() -> None:
    both = _pipe("p", "        sub: {handler: m.a, pipeline: q}\n") + _pipe("q", "        b: {handler: m.a}\n")
    assert _issues(both) == {("PYP212", 6, "pipelines.p.config.taskDefinitions.sub.pipeline")}
    neither = _pipe("p", "        sub: {queue: x}\n")
    assert _issues(neither) == {("PYP102", 6, "pipelines.p.config.taskDefinitions.sub")}
    empty = _pipe("p", "        sub: {pipeline: null}\n")
    assert _issues(empty) == {("PYP104", 6, "pipelines.p.config.taskDefinitions.sub.pipeline")}
    split = _pipe("p", "        sub: {pipeline: q, split: true}\n") + _pipe("q", "        b: {handler: m.a}\n")
    assert _issues(split) == {("PYP212", 6, "pipelines.p.config.taskDefinitions.sub.split")}


def test_sub_pipelines_work_on_both_engines() -> None:
    text = ("pipelines:\n  d:\n    name: d\n    config:\n      metadata: {engine: dyrygent}\n"
            "      taskDefinitions:\n        sub: {pipeline: q}\n" + _pipe("q", "        b: {handler: m.a}\n"))
    assert check_text(text).issues == []
