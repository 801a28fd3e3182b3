"""`sigma-es convert`: files → results (cache, workers) → outputs, errors, progress, summary, report."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import click

from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.cache import ResultCache, default_cache_dir
from sigma_es_backend.conversion.loading import rule_file_names
from sigma_es_backend.conversion.output import DirectoryWriter, JsonLinesWriter, QueryLinesWriter
from sigma_es_backend.conversion.report import REPORT_FORMATS, CoverageReport
from sigma_es_backend.conversion.settings import ConversionSettings, SettingsError
from sigma_es_backend.conversion.workers import PreparationFailed


@dataclass
class RunOptions:
    output: TextIO
    as_json: bool = False
    output_dir: Path | None = None
    report: Path | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    jobs: int | None = None
    progress: bool | None = None  # None: only when stderr is a terminal and not in CI


def show_progress(requested: bool | None) -> bool:
    if requested is not None:
        return requested
    return sys.stderr.isatty() and not os.environ.get("CI")


def run_convert(paths: list[Path], settings: ConversionSettings, options: RunOptions) -> int:
    """Convert, write every output, print errors and the summary on stderr; exit status 1 if any rule failed."""
    started = time.perf_counter()
    if options.report is not None and options.report.suffix.lower() not in REPORT_FORMATS:
        raise click.BadParameter(f"'{options.report}': use a {', '.join(REPORT_FORMATS)} file",
                                 param_hint="--report")
    files = list(rule_file_names(paths))
    cache = ResultCache(options.cache_dir or default_cache_dir(), settings) if options.use_cache else None
    if options.output_dir is not None:
        writer = DirectoryWriter(options.output_dir, paths)
    elif options.as_json:
        writer = JsonLinesWriter(options.output)
    else:
        writer = QueryLinesWriter(options.output)
    report = CoverageReport(settings.target, settings.pipelines) if options.report is not None else None
    converted = failed = warned = rules = 0
    held_back: list[str] = []
    bar = (click.progressbar(length=len(files), label="converting", file=sys.stderr)
           if show_progress(options.progress) else None)
    try:
        results = convert_files(files, settings, jobs=options.jobs, cache=cache,
                                on_file_done=(lambda: bar.update(1)) if bar is not None else None)
        for result in results:
            rules += 1
            writer.write(result)
            if report is not None:
                report.add(result)
            if result.ok:
                converted += 1
                warned += bool(result.warnings)
            else:
                failed += 1
                message = f"error: {result.path}: {result.error}"
                if bar is None:
                    click.echo(message, err=True)
                else:  # the bar owns the terminal line until it finishes
                    held_back.append(message)
    except SettingsError as error:  # unknown target, format or pipeline
        raise click.UsageError(str(error)) from error
    except ValueError as error:  # e.g. a broken mapping or pipeline file: nothing can convert
        raise click.ClickException(str(error)) from error
    except PreparationFailed as error:  # the worker processes could not be prepared (killed, out of memory)
        raise click.ClickException(f"cannot start the conversion: {error}") from error
    finally:
        if bar is not None:
            bar.render_finish()
            for message in held_back:
                click.echo(message, err=True)
        if cache is not None:
            cache.close()
    if report is not None:
        report.write(options.report)
        click.echo(report.totals_text(), err=True)
        click.echo(f"report written to {options.report}", err=True)
    cached = f", {cache.hits} files from cache" if cache is not None and cache.hits else ""
    click.echo(f"{rules} rules in {len(files)} files: {converted} converted ({warned} with warnings), "
               f"{failed} failed; {time.perf_counter() - started:.2f} s{cached}", err=True)
    return 1 if failed else 0
