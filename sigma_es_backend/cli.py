"""`sigma-es` command line: parses arguments and calls the package's modules, nothing more."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from pathlib import Path

import click

from sigma_es_backend import __version__
from sigma_es_backend.backends import backends

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

# Subcommands whose modules import pySigma or the Elasticsearch/OpenSearch clients are imported only
# when used: `sigma-es convert` answers a cached corpus in well under 0.5 s, a third of which the
# imports would take (tests/unit/test_conversion.py checks `import sigma_es_backend.cli` stays light).
LAZY_COMMANDS = {
    "ingest": "sigma_es_backend.harness.cli:ingest",
    "test": "sigma_es_backend.harness.cli:test",
    "coverage": "sigma_es_backend.coverage.cli:coverage",
    "deploy": "sigma_es_backend.deploy.cli:deploy",
    "cluster": "sigma_es_backend.cluster.cli:cluster",
    "attack": "sigma_es_backend.attack.cli:attack_group",
}


class LazyGroup(click.Group):
    """A click group that imports the commands of LAZY_COMMANDS on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
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
              help="Output file (queries one per line, or JSON lines with --json).")
@click.option("-d", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one file per converted rule here, mirroring the input tree.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per rule: path, id, title, logsource, queries, warnings, errors.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Coverage report per rule (fully mapped / warnings / failed + reason): .json, .md or .csv; "
                   "totals by product and category go to stderr.")
@click.option("--cache/--no-cache", "use_cache", default=True, show_default=True,
              help="Reuse results of unchanged rule files (keyed by content, mappings, settings, version).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Cache directory [default: $SIGMA_ES_CACHE_DIR, else ~/.cache/sigma-es].")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes [default: one per core].")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal, not in CI].")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def convert(target: str, pipelines: tuple[str, ...], output_format: str, backend_options: tuple[str, ...],
            output, output_dir: Path | None, as_json: bool, report: Path | None, use_cache: bool,
            cache_dir: Path | None, jobs: int | None, progress: bool | None, paths: tuple[Path, ...]) -> None:
    """Convert Sigma rule files or directories; rules that fail are listed, the others still convert."""
    from sigma_es_backend.conversion.run import RunOptions, run_convert
    from sigma_es_backend.conversion.settings import ConversionSettings

    settings = ConversionSettings.create(target, pipelines, output_format, _parse_backend_option(backend_options))
    options = RunOptions(output=output, as_json=as_json, output_dir=output_dir, report=report,
                         use_cache=use_cache, cache_dir=cache_dir, jobs=jobs, progress=progress)
    sys.exit(run_convert(list(paths), settings, options))




def main() -> None:
    if sys.argv[1:2] == ["convert"]:
        # A one-shot process, run with automatic garbage collection off, as its workers are (conversion/batch.py).
        # Otherwise a one-process run gives the collector back at its end, and the first collection then
        # scans all the run's garbage just before exit (half a second of the SigmaHQ corpus's 4 s).
        gc.disable()
        try:
            cli()
        except SystemExit as done:
            exit_now(done.code)
    cli()


def exit_now(code: int | str | None) -> None:
    """End a finished `convert` at once. When click returns, every output is written and closed (output
    file, directory files, report, the cache's database) and the workers are gone; what is left is the
    interpreter's teardown of the run's objects and modules: 0.1 s of the SigmaHQ corpus's 2.5 s."""
    if isinstance(code, str):  # as sys.exit prints a message
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. a closed pipe: the exit status still tells
        code = code or 1
    os._exit(code or 0)


if __name__ == "__main__":
    main()
