"""Check a config (file or edited text) into issues and pipeline graphs, for `validate` and the live preview."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pypeline.config import load_config
from pypeline.config.loader import check_config_text
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


def _with_dataflow(config: PypelineConfig | None, issues: list[ConfigIssue]) -> ConfigCheck:
    if config is not None:
        issues = issues + dataflow_issues(config)
    return ConfigCheck(config, issues)


def check_file(path: str | os.PathLike[str], *, check_handlers: bool = True) -> ConfigCheck:
    """Check a config file like `pypeline validate`: structure, handlers (optional) and dataflow."""
    try:
        config = load_config(path, check_handlers=check_handlers)
    except ConfigError as exc:
        return ConfigCheck(None, list(exc.issues))
    return _with_dataflow(config, [])


def check_text(text: str, filename: str = "<preview>") -> ConfigCheck:
    """Check edited config text for the preview: never imports handlers and never reads the server environment.

    `${VAR:default}` takes its default; `${VAR}` without one is reported as unset (PYP009).
    """
    config, issues = check_config_text(text, filename, check_handlers=False, env={})
    return _with_dataflow(config, issues)


def pipeline_graphs(config: PypelineConfig | None) -> list[dict[str, Any]]:
    """{id, name, nodes, edges, levels} of every pipeline that validated, in declaration order."""
    graphs = []
    for pipeline in (config.pipelines.values() if config is not None else ()):
        dag = PipelineDag(pipeline)
        graphs.append({
            "id": pipeline.id,
            "name": pipeline.name,
            "nodes": list(dag.nodes),
            "edges": [[u, v] for u, v in pipeline.edges],
            "levels": [list(level) for level in dag.levels],
        })
    return graphs
