"""`sigma-es` command line: parses arguments and calls the package's modules, nothing more."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sigma_es_backend import __version__
from sigma_es_backend.attack.cli import attack_group
from sigma_es_backend.backends import backends
from sigma_es_backend.cluster.cli import cluster
from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.harness.cli import ingest as ingest_command
from sigma_es_backend.harness.cli import test as test_command

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="sigma-es")
def cli() -> None:
    """Sigma rules → Elasticsearch / OpenSearch queries and detections, with exact Sigma semantics."""


def _parse_backend_option(values: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"'{item}' is not key=value", param_hint="-O/--backend-option")
        options[key] = value
    return options


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option("-t", "--target", required=True, type=click.Choice(sorted(backends)), help="Query language.")
@click.option("-p", "--pipeline", "pipelines", multiple=True, default=("ecs",), show_default=True,
              help="Pipeline id or pySigma pipeline YAML file (repeatable).")
@click.option("-f", "--format", "output_format", default="default", show_default=True, help="Output format.")
@click.option("-O", "--backend-option", "backend_options", multiple=True, help="Backend option key=value.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="Output file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule (path, id, title, queries, error).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def convert(target: str, pipelines: tuple[str, ...], output_format: str, backend_options: tuple[str, ...],
            output, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Convert Sigma rule files or directories; rules that fail are listed, the others still convert."""
    if output_format not in backends[target].formats:
        raise click.BadParameter(
            f"'{output_format}' is not a format of {target} (formats: {', '.join(backends[target].formats)})",
            param_hint="-f/--format")
    failed = converted = 0
    try:
        results = convert_paths(paths, target, pipelines, output_format, _parse_backend_option(backend_options))
        for result in results:
            if as_json:
                output.write(json.dumps(result.as_dict(), default=str) + "\n")
            else:
                for query in result.queries:
                    output.write(f"{query}\n")
            if result.ok:
                converted += 1
            else:
                failed += 1
                click.echo(f"error: {result.path}: {result.error}", err=True)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{converted} rules converted, {failed} failed", err=True)
    if failed:
        sys.exit(1)


def _not_implemented(name: str, summary: str) -> click.Command:
    """A placeholder subcommand that says so and exits non-zero (its issue is still open)."""

    @click.command(name=name, help=f"{summary} (not implemented yet).",
                   context_settings={**CONTEXT_SETTINGS, "ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"'sigma-es {name}' is not implemented yet")

    return command


cli.add_command(cluster)
cli.add_command(attack_group)
cli.add_command(ingest_command)
cli.add_command(test_command)
for _name, _summary in (
    ("deploy", "Install rules as Kibana rules, OpenSearch monitors or Security Analytics detectors"),
    ("coverage", "ATT&CK layer and coverage report for a rule set"),
):
    cli.add_command(_not_implemented(_name, _summary))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
