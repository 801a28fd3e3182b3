"""A local single-node OpenSearch 2.19 for tests and demos, built from Maven Central artifacts.

No Docker and no OpenSearch download site are needed: the node is the integ-test distribution zip
plus the modules lang-painless, lang-mustache, analysis-common and reindex rebuilt from their jars,
plus the plugin zips job-scheduler, alerting and security-analytics where the Maven repository
serves them (see ``artifacts.py`` for the table and what is served).

Public API (all functions are safe to call from several processes: they serialise on a lock file in
the cache directory):

* :func:`ensure_running` – base URL of a healthy node, starting one if needed (test fixtures).
* :func:`start` / :func:`stop` / :func:`status` – lifecycle of the background node.
* :func:`fetch` – download and assemble only (set-up scripts, CI caches).

Layout under the cache directory (``$SIGMA_ES_CACHE_DIR``, default ``~/.cache/sigma-es``, for root
``/var/cache/sigma-es``)::

    downloads/        artifacts in Maven repository layout (never downloaded twice)
    dist/opensearch-<version>/   assembled node home, with a marker file of the spec it was built from
    local-plugins/    plugin zips to use instead of downloading them (e.g. self-built alerting)
    run/              state.json, config/, data/<version>/, logs/ of the running node

OpenSearch refuses to run as root.  When called as root, the node process runs as the unprivileged
user ``$SIGMA_ES_RUN_AS`` (default ``nobody``); the run directory is handed to that user and the
assembled home is made world-readable.

Progress goes to stderr; errors are raised as :class:`ClusterError` with a one-line message.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Assembly",
    "ClusterError",
    "NodeInfo",
    "ensure_running",
    "fetch",
    "resolve_cache_dir",
    "start",
    "status",
    "stop",
]

ENV_CACHE_DIR = "SIGMA_ES_CACHE_DIR"
ENV_VERSION = "SIGMA_ES_OPENSEARCH_VERSION"


class ClusterError(Exception):
    """A launcher failure.  ``str(error)`` is a single line that says what went wrong."""


@dataclass(frozen=True)
class NodeInfo:
    """A running node: its base URL (no trailing slash), JVM pid, OpenSearch version and files."""

    url: str
    pid: int
    version: str
    home: Path
    log_file: Path


@dataclass(frozen=True)
class Assembly:
    """An assembled node home.

    ``plugins`` are the plugins installed in it, ``missing`` one line per plugin that could not be
    installed (with the reason), ``reused`` tells whether an earlier assembly was reused as is.
    """

    home: Path
    version: str
    plugins: tuple[str, ...]
    missing: tuple[str, ...]
    reused: bool


ROOT_CACHE_DIR = Path("/var/cache/sigma-es")


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$SIGMA_ES_CACHE_DIR``, else the default.

    The default is ``~/.cache/sigma-es`` (``$XDG_CACHE_HOME`` honoured), except for root:
    OpenSearch refuses to run as root, so root's node runs as an unprivileged user (see
    ``node.run_as_user``), which cannot enter root's private home; root's default is therefore
    ``/var/cache/sigma-es``.
    """
    if cache_dir is None:
        cache_dir = os.environ.get(ENV_CACHE_DIR) or None
    if cache_dir is None:
        if os.geteuid() == 0:
            return ROOT_CACHE_DIR
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache_dir = Path(base) / "sigma-es"
    return Path(cache_dir).expanduser().resolve()


def resolve_version(version: str | None = None) -> str:
    """The OpenSearch version: ``version``, else ``$SIGMA_ES_OPENSEARCH_VERSION``, else the default."""
    from .artifacts import DEFAULT_VERSION, check_version

    chosen = version or os.environ.get(ENV_VERSION) or DEFAULT_VERSION
    try:
        return check_version(chosen)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None


def progress(message: str) -> None:
    """Report progress on stderr (stdout is reserved for results such as the node URL)."""
    print(f"[sigma-es] {message}", file=sys.stderr, flush=True)


# `fetch` names both the submodule fetch.py and the public function below.  Importing a submodule
# binds it as an attribute of the package, which would shadow the function; importing it here,
# before the function is defined, lets the function win for good (later imports hit sys.modules).
from . import fetch as _fetch_module  # noqa: E402, F401

# The functions below import their implementation lazily: the submodules import ClusterError and
# NodeInfo from this module, and `import sigma_es_backend.cluster` should stay cheap.


def fetch(cache_dir: Path | str | None = None, version: str | None = None, force: bool = False) -> Assembly:
    """Download (if not cached) and assemble the node home; do not start it.

    Reuses an earlier assembly of the same spec unless ``force``.  Raises :class:`ClusterError`
    when a required artifact cannot be downloaded or a node runs from the home to be rebuilt.
    """
    from .node import fetch_dist, locked

    root = resolve_cache_dir(cache_dir)
    with locked(root):
        return fetch_dist(root, resolve_version(version), force=force)


def start(
    cache_dir: Path | str | None = None,
    version: str | None = None,
    timeout: float = 180,
    heap: str | None = None,
    reset_data: bool = False,
) -> NodeInfo:
    """Start the node in the background (or return the one already running) and wait for health.

    Returns once ``_cluster/health`` is yellow or green.  ``heap`` is a JVM size such as ``1g``
    (default ``$SIGMA_ES_HEAP`` or ``1g``); ``reset_data`` wipes the node's data directory first.
    Raises :class:`ClusterError` on failure, after printing the tail of the node log to stderr.
    """
    from .node import locked, start_node

    root = resolve_cache_dir(cache_dir)
    with locked(root):
        return start_node(root, resolve_version(version), timeout=timeout, heap=heap, reset_data=reset_data)


def stop(cache_dir: Path | str | None = None, timeout: float = 30) -> bool:
    """Stop the node (SIGTERM, then SIGKILL after ``timeout`` s).  True if a node was running."""
    from .node import locked, stop_node

    root = resolve_cache_dir(cache_dir)
    with locked(root):
        return stop_node(root, timeout=timeout)


def status(cache_dir: Path | str | None = None) -> NodeInfo | None:
    """The running, healthy node of this cache directory, or None."""
    from .node import running_node

    return running_node(resolve_cache_dir(cache_dir))


def ensure_running(cache_dir: Path | None = None, timeout: float = 180) -> str:
    """Base URL of a healthy node, starting (and if needed fetching) one first."""
    info = status(cache_dir)
    if info is None:
        info = start(cache_dir, timeout=timeout)
    return info.url
