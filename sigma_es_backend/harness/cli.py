"""`sigma-es ingest` and `sigma-es test`: thin click commands over harness.ingest and harness.runner."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from opensearchpy.exceptions import OpenSearchException

from sigma_es_backend.connection import Connection
from sigma_es_backend.harness.connection import engine_of
from sigma_es_backend.harness.ingest import ingest as ingest_records
from sigma_es_backend.harness.ingest import iter_records
from sigma_es_backend.harness.runner import HARNESS_TARGETS, RuleReport, run, summarize

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def connection_options(default_url_from_launcher: bool) -> Callable:
    """Options shared by the commands that talk to a cluster; each also reads a SIGMA_ES_* variable."""

    def decorate(command: Callable) -> Callable:
        options = [
            click.option("--url", envvar="SIGMA_ES_OPENSEARCH_URL", show_envvar=True,
                         required=not default_url_from_launcher,
                         help="Cluster URL." + (" Default: the local launcher's OpenSearch (started if needed)."
                                                if default_url_from_launcher else "")),
            click.option("--user", "username", envvar="SIGMA_ES_USERNAME", show_envvar=True, help="Basic auth user."),
            click.option("--password", envvar="SIGMA_ES_PASSWORD", show_envvar=True, help="Basic auth password."),
            click.option("--api-key", envvar="SIGMA_ES_API_KEY", show_envvar=True,
                         help="API key (Authorization: ApiKey …)."),
            click.option("--ca-cert", envvar="SIGMA_ES_CA_CERT", show_envvar=True,
                         type=click.Path(exists=True, dir_okay=False), help="CA bundle for TLS."),
            click.option("--insecure", is_flag=True, envvar="SIGMA_ES_OPENSEARCH_INSECURE", show_envvar=True,
                         help="Do not verify TLS certificates (verification is on by default)."),
        ]
        for option in reversed(options):
            command = option(command)

        @functools.wraps(command)
        def wrapper(url: str | None, username: str | None, password: str | None, api_key: str | None,
                    ca_cert: str | None, insecure: bool, **kwargs: Any) -> Any:
            if not url:
                from sigma_es_backend import cluster

                try:
                    url = cluster.ensure_running()
                except cluster.ClusterError as error:
                    raise click.ClickException(f"no --url and the local cluster cannot start: {error}") from error
            connection = Connection(url, username, password, api_key, ca_cert, verify=not insecure)
            return command(connection=connection, **kwargs)

        return wrapper

    return decorate


def _client(connection: Connection) -> tuple[Any, str]:
    client = connection.client()
    try:
        return client, engine_of(client)
    except (OpenSearchException, OSError) as error:
        # The URL is printed, credentials never are (they live in the connection object only).
        raise click.ClickException(f"cannot reach {connection.url}: {type(error).__name__}") from error


@click.command(context_settings=CONTEXT_SETTINGS)
@connection_options(default_url_from_launcher=False)
@click.option("--index", required=True, help="Index to load into (created with ECS field types if absent).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(connection: Connection, index: str, files: tuple[Path, ...]) -> None:
    """Load raw Windows events (EVTX / JSON / NDJSON) into an index as ECS documents."""
    client, engine = _client(connection)
    # Progress per file on a terminal only (record counts of EVTX files are not known up front).
    bar = click.progressbar(files, label="files", file=sys.stderr, show_pos=True,
                            item_show_func=lambda p: p.name if p else None) if sys.stderr.isatty() else None
    try:
        with bar if bar is not None else _NoBar(files) as paths:
            result = ingest_records(client, index, iter_records(paths), flavor=engine)
    except OpenSearchException as error:
        raise click.ClickException(f"{index}: {error}") from error
    for location, reason in result.failures:
        click.echo(f"failed: {location}: {reason}", err=True)
    click.echo(f"{result.loaded} loaded, {result.failed} failed into {index}")
    if result.failed:
        sys.exit(1)


class _NoBar:
    """Stands in for the progress bar when stderr is not a terminal: the files, unadorned."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        self.files = files

    def __enter__(self) -> tuple[Path, ...]:
        return self.files

    def __exit__(self, *_: Any) -> None:
        return None


def _line(report: RuleReport) -> str:
    name = f"{report.path}" + (f" ({report.title})" if report.title else "")
    if report.status != "tested":
        return f"{report.status}: {name}" + (f": {report.reason}" if report.reason else "")
    parts = " · ".join(f"{o.target} {o.describe()}" for o in report.outcomes)
    return f"{'PASS' if report.passed else 'FAIL'} {name}: {parts}"


@click.command(name="test", context_settings=CONTEXT_SETTINGS)
@connection_options(default_url_from_launcher=True)
@click.option("--samples", "samples_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Regression samples root (SigmaHQ layout: info.yml + .evtx/.json per rule).")
@click.option("-t", "--target", "targets", multiple=True, type=click.Choice(HARNESS_TARGETS),
              default=HARNESS_TARGETS, show_default=True, help="Targets to run (repeatable).")
@click.option("--report", "report_file", type=click.File("w", encoding="utf-8"),
              help="Write the full report as JSON to this file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule on stdout.")
@click.option("--index-prefix", default="sigma-es-test", show_default=True, help="Prefix of the temporary indices.")
@click.option("--shared-index", is_flag=True,
              help="One temporary index for all samples, each query filtered to its own sample's documents "
                   "(same hits, much faster on large sample sets).")
@click.argument("rule_paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def test(connection: Connection, samples_dir: Path, targets: tuple[str, ...], report_file: Any, as_json: bool,
         index_prefix: str, shared_index: bool, rule_paths: tuple[Path, ...]) -> None:
    """Run rules against their regression samples in a live cluster; exit 1 when any fails."""
    client, engine = _client(connection)

    def emit(report: RuleReport) -> None:
        if as_json:
            if report.status != "no samples" or report.reason:
                click.echo(json.dumps(report.as_dict()))
        elif report.status != "no samples" or report.reason:
            click.echo(_line(report))

    reports = run(client, rule_paths, samples_dir, targets, engine=engine, index_prefix=index_prefix,
                  on_report=emit, shared_index=shared_index)
    summary = summarize(reports)
    if report_file is not None:
        json.dump({"summary": {"tested": summary.tested, "passed": summary.passed, "errors": summary.errors,
                               "no_samples": summary.no_samples, "per_target": summary.per_target},
                   "rules": [r.as_dict() for r in reports if r.status != "no samples" or r.reason]},
                  report_file, indent=1)
    for target, counts in summary.per_target.items():
        click.echo(f"{target}: {counts['pass']} pass, {counts['fail']} fail, {counts['error']} error", err=True)
    click.echo(f"{summary.no_samples} rules without samples, {summary.errors} unreadable", err=True)
    click.echo(f"regression: {summary.passed}/{summary.tested} passed", err=True)
    if not summary.ok:
        sys.exit(1)
