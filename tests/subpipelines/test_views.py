"""A sub-pipeline node shows the pipeline it starts (not the built-in handler) in every face: the pipeline
document (API), the dashboard's pipeline page (with a link), `pypeline graph` and the config preview."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pypeline.cli import cli
from pypeline.config.subpipelines import SUBPIPELINE_HANDLER
from tests.api.support import ApiStack, make_api_stack
from tests.subpipelines.support import add_sub_pipelines


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> ApiStack:
    """An app (no worker) on a config with a parent pipeline whose node `sub` starts `sub_child`."""
    tmp = tmp_path_factory.mktemp("subpipeline-views")
    return make_api_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}", edit=add_sub_pipelines)


def test_the_pipeline_document_says_which_pipeline_a_node_starts(stack: ApiStack) -> None:
    resp = stack.client.get("/api/v1/pipelines/sub_parent", headers=stack.r)
    assert resp.status_code == 200, resp.json
    nodes = {n["name"]: n for n in resp.json["nodes"]}
    assert nodes["sub"]["kind"] == "pipeline" and nodes["sub"]["pipeline"] == "sub_child"
    assert nodes["sub"]["runs"] == "pipeline sub_child"
    assert nodes["sub"]["handler"] == SUBPIPELINE_HANDLER  # the task its messages run, still reported
    assert nodes["prepare"]["kind"] == "handler" and nodes["prepare"]["pipeline"] is None
    assert nodes["prepare"]["runs"] == nodes["prepare"]["handler"] == "tests.subpipelines.handlers.prepare"
    listed = stack.client.get("/api/v1/pipelines/", headers=stack.r).json
    parent = next(p for p in listed if p["id"] == "sub_parent")
    assert [n["pipeline"] for n in parent["nodes"]] == [None, "sub_child", None]
    spec = stack.client.get("/api/v1/openapi.json").json
    node_schema = spec["components"]["schemas"]["PipelineNode"]["properties"]
    assert {"kind", "pipeline", "runs"} <= set(node_schema) and node_schema["pipeline"]["description"]


def test_the_dashboard_pipeline_page_links_the_started_pipeline(stack: ApiStack) -> None:
    client = stack.app.test_client()
    form = client.get("/ui/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    client.post("/ui/login", data={"key": stack.read_key, "csrf": csrf.group(1)})
    page = client.get("/ui/pipelines/sub_parent")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SUBPIPELINE_HANDLER not in html and "run_subpipeline" not in html
    assert re.search(r'pipeline <a href="/ui/pipelines/sub_child"><code>sub_child</code></a>', html)
    graph = html[html.index('<svg class="dag"'):html.index("</svg>")]
    assert re.search(r'data-node="sub">.*?pipeline sub_child', graph, re.S)
    assert "<code>tests.subpipelines.handlers.prepare</code>" in html  # handler nodes keep their handler
    assert client.get("/ui/pipelines/sub_child").status_code == 200  # the link's target


def test_graph_and_config_preview_name_the_started_pipeline(stack: ApiStack, tmp_path: Path) -> None:
    runner = CliRunner()
    mermaid = runner.invoke(cli, ["graph", str(stack.config), "sub_parent"])
    assert mermaid.exit_code == 0, mermaid.output
    assert "sub<br/><small>pipeline sub_child</small>" in mermaid.output and "run_subpipeline" not in mermaid.output
    dot = runner.invoke(cli, ["graph", str(stack.config), "sub_parent", "--format", "dot"])
    assert '"sub" [label="sub\\npipeline sub_child"];' in dot.output
    resp = stack.client.post("/api/v1/config/validate", json={"text": stack.config.read_text()}, headers=stack.w)
    assert resp.status_code == 200 and resp.json["valid"] is True, resp.json
    graph = next(g for g in resp.json["pipelines"] if g["id"] == "sub_parent")
    assert graph["subpipelines"] == {"sub": "sub_child"}
