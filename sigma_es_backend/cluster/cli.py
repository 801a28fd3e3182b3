"""``sigma-es cluster …``: a local OpenSearch node for tests and demos.

Attach with ``cli.add_command(cluster)``; standalone: ``python -m sigma_es_backend.cluster.cli``.
Results go to stdout (``start`` prints only the URL, so ``URL=$(… start)`` works); progress and
warnings go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import ClusterError
from . import fetch as fetch_node
from . import start as start_node
from . import status as node_status
from . import stop as stop_node

F = TypeVar("F", bound=Callable[..., Any])


def _cache_dir_option(func: F) -> F:
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Cache directory (default $SIGMA_ES_CACHE_DIR or ~/.cache/sigma-es).",
    )(func)


def _version_option(func: F) -> F:
    return click.option(
        "--opensearch-version",
        "version",
        default=None,
        metavar="X.Y.Z",
        help="OpenSearch version (default $SIGMA_ES_OPENSEARCH_VERSION or 2.19.6).",
    )(func)


@click.group(name="cluster")
def cluster() -> None:
    """Local single-node OpenSearch (with job-scheduler, alerting, security-analytics when available)."""


@cluster.command()
@_cache_dir_option
@_version_option
@click.option("--timeout", type=float, default=180, show_default=True, help="Seconds to wait for health.")
@click.option("--heap", default=None, help="JVM heap, e.g. 1g (default $SIGMA_ES_HEAP or 1g).")
@click.option("--reset-data", is_flag=True, help="Wipe the node's data directory before starting.")
def start(
    cache_dir: Path | None, version: str | None, timeout: float, heap: str | None, reset_data: bool
) -> None:
    """Start the node in the background (fetching it first if needed) and print its URL."""
    try:
        info = start_node(cache_dir, version=version, timeout=timeout, heap=heap, reset_data=reset_data)
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(info.url)


@cluster.command()
@_cache_dir_option
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds before SIGKILL.")
def stop(cache_dir: Path | None, timeout: float) -> None:
    """Stop the node (SIGTERM, then SIGKILL after the timeout)."""
    try:
        stopped = stop_node(cache_dir, timeout=timeout)
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("stopped" if stopped else "not running", err=True)


@cluster.command()
@_cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(cache_dir: Path | None, as_json: bool) -> None:
    """Show URL, node name, version and plugins; exit 1 when no healthy node runs."""
    from .node import describe

    try:
        info = node_status(cache_dir)
        details = describe(info) if info is not None else {"running": False}
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(details, indent=2))
    elif info is not None:
        for key in ("url", "node", "version", "health", "pid", "home", "log_file"):
            click.echo(f"{key}: {details[key]}")
        click.echo(f"plugins: {', '.join(details['plugins']) or '(none)'}")
    else:
        click.echo("not running", err=True)
    if info is None:
        raise SystemExit(1)


@cluster.command()
@_cache_dir_option
@_version_option
@click.option(
    "--force", is_flag=True, help="Reassemble even if an identical assembly exists (retries plugins)."
)
def fetch(cache_dir: Path | None, version: str | None, force: bool) -> None:
    """Download and assemble the node without starting it; print its home directory."""
    try:
        assembly = fetch_node(cache_dir, version=version, force=force)
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    for line in assembly.missing if assembly.reused else ():
        click.echo(f"[sigma-es] WARNING plugin unavailable: {line}", err=True)
    click.echo(str(assembly.home))


if __name__ == "__main__":
    cluster()
