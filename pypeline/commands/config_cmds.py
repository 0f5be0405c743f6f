"""`pypeline validate` and `pypeline graph`."""
from __future__ import annotations

import json
import sys

import click

from pypeline.commands.common import console, handle_errors, print_config_error
from pypeline.config import load_config
from pypeline.config.report import github_annotation, issue_record
from pypeline.errors import ConfigError
from pypeline.services.config_check import check_file

__all__ = ["validate", "graph"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="FILE...")
@click.option("--no-handlers", is_flag=True, help="Do not import handlers (syntax and structure only).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text for people, json (a list of issues) for tools, github for Actions annotations.")
def validate(files: tuple[str, ...], no_handlers: bool, fmt: str) -> None:
    """Validate sermos.yaml/pypeline.yaml files; lists every error with its line, exits 1 if any."""
    results = [(file, check_file(file, check_handlers=not no_handlers)) for file in files]
    issues = [issue for _, result in results for issue in result.issues]
    if fmt == "json":
        click.echo(json.dumps([issue_record(i) for i in issues], indent=2))
    elif fmt == "github":
        for issue in issues:
            click.echo(github_annotation(issue))
    for file, result in results:
        if fmt == "text" and result.issues:
            print_config_error(ConfigError(result.issues))
        elif fmt != "json" and result.config is not None and not result.issues:
            config = result.config
            console.print(f"[green]OK[/] {file}: {len(config.pipelines)} pipeline(s), "
                          f"{len(config.schedules)} schedule(s), {len(config.handlers)} handler(s)", highlight=False)
    if issues:
        sys.exit(1)


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
