"""``sigma-es coverage PATH…``: ATT&CK Navigator layer and HTML / Markdown coverage report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.cache import ResultCache, default_cache_dir
from sigma_es_backend.conversion.loading import rule_file_names
from sigma_es_backend.conversion.settings import ConversionSettings, SettingsError
from sigma_es_backend.coverage import collect
from sigma_es_backend.coverage.layer import navigator_layer
from sigma_es_backend.coverage.report import html_report, markdown_report


@click.command(name="coverage", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-t", "--target", default="es_lucene", show_default=True,
              help="Query language the rules are converted to (a rule counts when it converts).")
@click.option("-p", "--pipeline", "pipelines", multiple=True, default=("ecs",), show_default=True,
              help="Pipeline id or pySigma pipeline YAML file (repeatable).")
@click.option("--layer", type=click.Path(dir_okay=False, path_type=Path), help="Write the ATT&CK Navigator layer.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Write the Markdown report.")
@click.option("--name", help="Layer / report title.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores].")
@click.option("--no-cache", is_flag=True, help="Convert every rule again (the cache is shared with convert).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def coverage(target: str, pipelines: tuple[str, ...], layer: Path | None, html: Path | None,
             markdown: Path | None, name: str | None, jobs: int | None, no_cache: bool,
             paths: tuple[Path, ...]) -> None:
    """Which rules convert per data source, the fields they need, and the ATT&CK techniques they cover.

    Without --layer/--html/--markdown the Markdown report goes to stdout."""
    settings = ConversionSettings.create(target, pipelines)
    cache = None if no_cache else ResultCache(default_cache_dir(), settings)
    try:
        results = convert_files(list(rule_file_names(paths)), settings, jobs=jobs, cache=cache)
        result = collect(results, target, pipelines, [str(p) for p in paths])
    except SettingsError as error:
        raise click.UsageError(str(error)) from error
    except ValueError as error:  # a broken mapping or pipeline file: nothing can convert
        raise click.ClickException(str(error)) from error
    finally:
        if cache is not None:
            cache.close()
    if not result.rules:
        raise click.ClickException("no Sigma rule found under " + ", ".join(map(str, paths)))
    title = name or "Sigma rule coverage"
    if layer:
        layer.write_text(json.dumps(navigator_layer(result, name), indent=1) + "\n", encoding="utf-8")
    if html:
        html.write_text(html_report(result, title), encoding="utf-8")
    if markdown:
        markdown.write_text(markdown_report(result, title), encoding="utf-8")
    if not (layer or html or markdown):
        click.echo(markdown_report(result, title))
    click.echo(f"{len(result.converted)} rules converted, {len(result.failed)} failed, "
               f"{len({k[0] for k in result.matrix()})} techniques covered", err=True)
