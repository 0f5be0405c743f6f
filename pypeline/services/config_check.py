"""Check a config (file or edited text) into issues and pipeline graphs, for `validate` and the live preview."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from pypeline.config.loader import CheckedConfig, check_config_text, read_config_file
from pypeline.config.model import PypelineConfig
from pypeline.dag import PipelineDag
from pypeline.engines.dataflow import dataflow_issues
from pypeline.errors import ConfigError, ConfigIssue

__all__ = ["ConfigCheck", "check_file", "check_text", "pipeline_graphs"]


@dataclass(frozen=True)
class ConfigCheck:
    """The outcome of checking a config: the (possibly partial) config and every issue found."""

    config: PypelineConfig | None
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the config has no issue at all."""
        return not self.issues and self.config is not None


def _with_dataflow(checked: CheckedConfig) -> ConfigCheck:
    """Add the dataflow issues of a structurally valid config, located at their dagAdjacency key."""
    if checked.config is None or checked.issues:
        return ConfigCheck(checked.config, checked.issues)
    located = []
    for issue in dataflow_issues(checked.config):
        position = checked.source.locate(issue.path, key=True) if checked.source is not None else None
        located.append(replace(issue, line=position[0], column=position[1]) if position else issue)
    return ConfigCheck(checked.config, located)


def check_file(path: str | os.PathLike[str], *, check_handlers: bool = True) -> ConfigCheck:
    """Check a config file like `pypeline validate`: structure, handlers (optional) and dataflow."""
    try:
        text = read_config_file(path)
    except ConfigError as exc:
        return ConfigCheck(None, list(exc.issues))
    return _with_dataflow(check_config_text(text, os.fspath(path), check_handlers=check_handlers))


def check_text(text: str, filename: str = "<preview>") -> ConfigCheck:
    """Check edited config text for the preview: never imports handlers and never reads the server environment.

    `${VAR:default}` takes its default; `${VAR}` without one is reported as unset (PYP009).
    """
    return _with_dataflow(check_config_text(text, filename, check_handlers=False, env={}))


def pipeline_graphs(config: PypelineConfig | None) -> list[dict[str, Any]]:
    """{id, name, nodes, handlers, subpipelines, edges, levels} of every pipeline that validated, in order.

    `subpipelines` maps each sub-pipeline node to the pipeline it starts (its `handlers` entry is the built-in task).
    """
    graphs = []
    for pipeline in (config.pipelines.values() if config is not None else ()):
        dag = PipelineDag(pipeline)
        graphs.append({
            "id": pipeline.id,
            "name": pipeline.name,
            "nodes": list(dag.nodes),
            "handlers": {name: node.handler for name, node in pipeline.nodes.items()},
            "subpipelines": {name: node.pipeline for name, node in pipeline.nodes.items() if node.pipeline},
            "edges": [[u, v] for u, v in pipeline.edges],
            "levels": [list(level) for level in dag.levels],
        })
    return graphs
