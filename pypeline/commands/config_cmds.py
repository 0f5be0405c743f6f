"""`pypeline validate` and `pypeline graph`."""
from __future__ import annotations

import click

from pypeline.commands.common import console, handle_errors
from pypeline.config import load_config
from pypeline.errors import ConfigError

__all__ = ["validate", "graph"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--no-handlers", is_flag=True, help="Do not import handlers (syntax and structure only).")
@handle_errors
def validate(file: str, no_handlers: bool) -> None:
    """Validate a sermos.yaml/pypeline.yaml; lists every error with its line, exits 1 if any."""
    from pypeline.engines.dataflow import dataflow_issues

    config = load_config(file, check_handlers=not no_handlers)
    issues = dataflow_issues(config)
    if issues:
        raise ConfigError(issues)
    console.print(f"[green]OK[/] {file}: {len(config.pipelines)} pipeline(s), {len(config.schedules)} schedule(s), "
                  f"{len(config.handlers)} handler(s)", highlight=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("pipeline")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@handle_errors
def graph(file: str, pipeline: str, fmt: str) -> None:
    """Print a pipeline's DAG as mermaid or Graphviz dot."""
    from pypeline.dag import PipelineDag

    dag = PipelineDag(load_config(file, check_handlers=False).pipeline(pipeline))
    click.echo(dag.to_mermaid() if fmt == "mermaid" else dag.to_dot(), nl=False)
