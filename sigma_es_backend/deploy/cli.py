"""`sigma-es deploy`: parse options, call sigma_es_backend.deploy.sync, print. No logic of its own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from sigma_es_backend.deploy.client import Connection, DeployError, HttpClient
from sigma_es_backend.deploy.sync import (
    TARGET_NAMES,
    apply_plan,
    desired_objects,
    make_target,
    plan_deploy,
    plan_table,
)

URL_ENV = {"kibana": "SIGMA_ES_KIBANA_URL", "opensearch": "SIGMA_ES_OPENSEARCH_URL",
           "opensearch-sa": "SIGMA_ES_OPENSEARCH_URL"}


def _options(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"'{item}' is not key=value", param_hint="-O/--backend-option")
        out[key] = value
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--to", "to", required=True, type=click.Choice(TARGET_NAMES), help="Where the detections go.")
@click.option("--url", help="Kibana or OpenSearch URL (default: SIGMA_ES_KIBANA_URL / SIGMA_ES_OPENSEARCH_URL).")
@click.option("-t", "--target", "query_target", help="Query language (default: es_lucene for Kibana, es_dsl "
              "for OpenSearch: query-level monitors; es_lucene gives document-level monitors).")
@click.option("-O", "--backend-option", "backend_options", multiple=True,
              help="key=value: interval, lookback, max_signals, version, enabled, monitor_type.")
@click.option("--space", help="Kibana space (default space when omitted).")
@click.option("--username", help="Basic auth user (env SIGMA_ES_USERNAME).")
@click.option("--password", help="Basic auth password (env SIGMA_ES_PASSWORD; prefer the environment).")
@click.option("--api-key", help="API key, base64 id:key (env SIGMA_ES_API_KEY).")
@click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False), help="CA bundle (env SIGMA_ES_CA_CERT).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (verification is on by default).")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option("--prune", is_flag=True, help="Delete deployed objects of ours whose rule is gone (never others).")
@click.option("--json", "as_json", is_flag=True, help="Plan and results as JSON on stdout.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def deploy(to: str, url: str | None, query_target: str | None, backend_options: tuple[str, ...],
           space: str | None, username: str | None, password: str | None, api_key: str | None,
           ca_cert: str | None, insecure: bool, dry_run: bool, prune: bool, as_json: bool,
           paths: tuple[Path, ...]) -> None:
    """Install Sigma rules as Kibana detection rules or OpenSearch Alerting monitors, idempotently."""
    url = url or os.environ.get(URL_ENV[to])
    if not url:
        raise click.UsageError(f"--url is required (or set {URL_ENV[to]})")
    try:
        target = make_target(to, space)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    client = HttpClient(Connection.from_options(url, username, password, api_key, ca_cert, insecure, space))
    desired = desired_objects(target, paths, query_target, _options(backend_options))
    try:
        plan = plan_deploy(target, client, desired, prune)
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    if not as_json:
        click.echo(plan_table(plan))
    failures = list(desired.failures)
    if not dry_run and plan.changes:
        show_bar = sys.stderr.isatty() and not as_json
        with click.progressbar(length=len(plan.changes), label="applying", file=sys.stderr,
                               hidden=not show_bar) as bar:
            failures += apply_plan(target, client, plan, desired, progress=bar.update)
    elif not dry_run:
        failures += apply_plan(target, client, plan, desired)
    if as_json:
        click.echo(json.dumps({"plan": [a.as_dict() for a in plan.actions], "counts": plan.counts(),
                               "dry_run": dry_run, "failures": [f.as_dict() for f in failures]}))
    for failure in failures:
        click.echo(f"error: {failure.path}: {failure.stage}: {failure.error}", err=True)
    applied = 0 if dry_run else len(plan.changes) - sum(f.stage == "apply" for f in failures)
    click.echo(f"{'dry run: ' if dry_run else ''}{plan.summary()}; {applied} applied, {len(failures)} failed",
               err=True)
    if failures:
        sys.exit(1)
