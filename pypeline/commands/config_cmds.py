"""`pypeline validate` and `pypeline graph`."""
from __future__ import annotations

import json
import sys

import click

from pypeline.commands.common import console, handle_errors
from pypeline.config import load_config
from pypeline.config.report import github_annotation, issue_record
from pypeline.dag import PipelineDag
from pypeline.errors import ConfigError
from pypeline.services.config_check import check_file

__all__ = ["validate", "graph"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--no-handlers", is_flag=True, help="Do not import handlers (syntax and structure only).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text for people, json (a list of issues) for tools, github for Actions annotations.")
@handle_errors
def validate(file: str, no_handlers: bool, fmt: str) -> None:
    """Validate a sermos.yaml/pypeline.yaml; lists every error with its line, exits 1 if any."""
    result = check_file(file, check_handlers=not no_handlers)
    if fmt == "json":
        click.echo(json.dumps([issue_record(i) for i in result.issues], indent=2))
        sys.exit(1 if result.issues else 0)
    if fmt == "github":
        for issue in result.issues:
            click.echo(github_annotation(issue))
        if result.issues:
            sys.exit(1)
    if result.issues or result.config is None:
        raise ConfigError(result.issues)
    config = result.config
    console.print(f"[green]OK[/] {file}: {len(config.pipelines)} pipeline(s), {len(config.schedules)} schedule(s), "
                  f"{len(config.handlers)} handler(s)", highlight=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("pipeline")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@handle_errors
def graph(file: str, pipeline: str, fmt: str) -> None:
    """Print a pipeline's DAG as mermaid or Graphviz dot."""
    dag = PipelineDag(load_config(file, check_handlers=False).pipeline(pipeline))
    click.echo(dag.to_mermaid() if fmt == "mermaid" else dag.to_dot(), nl=False)
