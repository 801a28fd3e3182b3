"""Start, stop and inspect the background OpenSearch node of a cache directory.

One node per cache directory.  Its state lives in ``<cache>/run/``: ``state.json`` (pid, URL, ports,
version, directories), a private ``config/`` (copied from the assembled home, so the home stays
pristine and shareable), ``data/<version>/`` and ``logs/``.

The node runs detached: launched through ``sh -c '… &'`` in a new session, it is orphaned at once
and re-parented to init, so it outlives the CLI and never lingers as a zombie of a long-lived
caller (a pytest session).  ``bin/opensearch`` ``exec``s the JVM, so the pid ``sh`` reports is the
JVM's pid for the node's whole life.

OpenSearch refuses to run as root and no setting overrides that.  Called as root, the launcher runs
the node as ``$SIGMA_ES_RUN_AS`` (default ``nobody``): it hands ``run/config``, ``run/data`` and
``run/logs`` to that user (``run/state.json`` stays root's) and needs the home to be reachable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import Assembly, ClusterError, NodeInfo, progress
from .assemble import assemble, build_spec, dist_home, plugin_tool_env, read_marker, resolve_java_home

STATE_FILE = "state.json"
CLUSTER_NAME = "sigma-es"
NODE_NAME = "sigma-es-1"
ENV_HEAP = "SIGMA_ES_HEAP"
ENV_RUN_AS = "SIGMA_ES_RUN_AS"
DEFAULT_RUN_AS = "nobody"
DEFAULT_HEAP = "1g"
LOG_TAIL_LINES = 40

_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]$")
_HEALTHY = ("yellow", "green")


def run_dir(root: Path) -> Path:
    """Per-instance state directory of cache directory ``root``."""
    return root / "run"


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache directory (fetch/start/stop from several processes)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# HTTP (stdlib only: the launcher must work before any client library is installed)


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body; urllib errors propagate."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - local node URL
        return json.loads(resp.read().decode("utf-8"))


def cluster_health(url: str, timeout: float = 5.0) -> str | None:
    """The cluster status (``green``/``yellow``/``red``), or None if the node does not answer."""
    try:
        body = http_json(f"{url}/_cluster/health", timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return body.get("status") if isinstance(body, dict) else None


def describe(info: NodeInfo, timeout: float = 10.0) -> dict[str, Any]:
    """Node name, version, health and plugins of a running node, for ``status``.

    Raises :class:`ClusterError` if the node does not answer.
    """
    try:
        root = http_json(f"{info.url}/", timeout=timeout)
        plugins = http_json(f"{info.url}/_cat/plugins?format=json", timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ClusterError(f"node at {info.url} does not answer: {exc}") from None
    return {
        "running": True,
        "url": info.url,
        "node": root.get("name"),
        "cluster": root.get("cluster_name"),
        "version": (root.get("version") or {}).get("number", info.version),
        "health": cluster_health(info.url, timeout=timeout),
        "pid": info.pid,
        "home": str(info.home),
        "log_file": str(info.log_file),
        "plugins": sorted({p.get("component", "") for p in plugins if isinstance(p, dict)} - {""}),
    }


def free_port(exclude: tuple[int, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it), not in ``exclude``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in exclude:
            return port
    raise ClusterError("no free TCP port on 127.0.0.1")


# ---------------------------------------------------------------------------------------------
# Processes and state


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_our_node(pid: int, home: Path) -> bool:
    """True if ``pid`` is alive and is the node of ``home`` (guards against recycled pids).

    During start-up the process is still the ``bin/opensearch`` shell script, later the JVM with
    ``-Dopensearch.path.home=<home>``; both command lines contain the home path.
    """
    if not pid_alive(pid):
        return False
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: kill(0) is all we can check
    if not raw:
        # Empty while the process is in the middle of an exec (the script exec-ing the JVM).
        return True
    return str(home) in raw.replace(b"\0", b" ").decode(errors="replace")


def read_state(root: Path) -> dict[str, Any] | None:
    """The state file of ``root``'s node, or None."""
    try:
        data = json.loads((run_dir(root) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically (readers never see half a file)."""
    path = run_dir(root) / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def clear_state(root: Path) -> None:
    """Remove the state file if present."""
    (run_dir(root) / STATE_FILE).unlink(missing_ok=True)


def node_info(state: dict[str, Any]) -> NodeInfo:
    """The :class:`NodeInfo` a state file describes."""
    return NodeInfo(
        url=state["url"],
        pid=int(state["pid"]),
        version=state["version"],
        home=Path(state["home"]),
        log_file=Path(state["log_file"]),
    )


def running_node(root: Path) -> NodeInfo | None:
    """The node of ``root`` if its process is alive and its cluster health is yellow or green."""
    state = read_state(root)
    if state is None or not is_our_node(state["pid"], Path(state["home"])):
        return None
    if cluster_health(state["url"]) not in _HEALTHY:
        return None
    return node_info(state)


# ---------------------------------------------------------------------------------------------
# Running as root: OpenSearch refuses to ("can not run opensearch as root", no setting overrides
# it), so the node process drops to an unprivileged account instead.


def run_as_user() -> pwd.struct_passwd | None:
    """None when not root; as root, the account the node runs as (``$SIGMA_ES_RUN_AS``, ``nobody``)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(ENV_RUN_AS) or DEFAULT_RUN_AS
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        raise ClusterError(
            f"user {name!r} does not exist (OpenSearch refuses to run as root; set {ENV_RUN_AS} to an unprivileged user)"
        ) from None
    if account.pw_uid == 0:
        raise ClusterError(f"{ENV_RUN_AS}={name} is root; OpenSearch refuses to run as root")
    return account


def unreachable_dir(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first existing directory on the way to ``path`` that ``account`` may not enter, or None.

    Directories not created yet are skipped: the launcher creates them traversable.
    """
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except OSError:
            return None
        if st.st_uid == account.pw_uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == account.pw_gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def _check_reachable(account: pwd.struct_passwd | None, paths: list[Path]) -> None:
    """Raise if the node's unprivileged user could not enter one of ``paths``."""
    if account is None:
        return
    for path in paths:
        blocked = unreachable_dir(path, account)
        if blocked is not None:
            raise ClusterError(
                f"the node runs as user {account.pw_name} (OpenSearch refuses to run as root) but cannot "
                f"enter {blocked}: use a cache directory outside it (--cache-dir or SIGMA_ES_CACHE_DIR)"
            )


def _hand_over(paths: list[Path], account: pwd.struct_passwd) -> None:
    """Give ``paths`` (recursively) to ``account`` so the node can write its config, data and logs."""
    for top in paths:
        for dirpath, dirnames, filenames in os.walk(top):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.chown(name, account.pw_uid, account.pw_gid, follow_symlinks=False)


# ---------------------------------------------------------------------------------------------
# Start


def heap_size(heap: str | None = None) -> str:
    """Validated JVM heap size (``heap``, else ``$SIGMA_ES_HEAP``, else 1g)."""
    value = (heap or os.environ.get(ENV_HEAP) or DEFAULT_HEAP).strip()
    if not _HEAP_RE.match(value):
        raise ClusterError(f"bad heap size {value!r} (want e.g. 512m or 1g; {ENV_HEAP})")
    return value


def render_settings(http_port: int, transport_port: int, data_dir: Path, logs_dir: Path) -> str:
    """``opensearch.yml`` of the local node.  Values are JSON strings, which YAML reads verbatim."""
    settings: list[tuple[str, object]] = [
        ("cluster.name", CLUSTER_NAME),
        ("node.name", NODE_NAME),
        ("path.data", str(data_dir)),
        ("path.logs", str(logs_dir)),
        ("network.host", "127.0.0.1"),
        ("http.port", http_port),
        ("transport.port", transport_port),
        ("discovery.type", "single-node"),
        # A nearly full developer disk must not turn test indices read-only half-way through a run.
        ("cluster.routing.allocation.disk.threshold_enabled", False),
    ]
    # No plugins.security.* settings: the security plugin is not installed and would reject them.
    lines = ["# Generated by sigma-es cluster start; rewritten at every start"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings]
    return "\n".join(lines) + "\n"


def log_tail(state: dict[str, Any], lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the node log, or of the console log when the node log is empty."""
    for key in ("log_file", "console_log"):
        path = Path(state.get(key, ""))
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])
    return "--- no node log written ---"


def _prepare_run_dir(root: Path, home: Path, version: str, reset_data: bool) -> dict[str, Path]:
    run = run_dir(root)
    dirs = {
        "run": run,
        "config": run / "config",
        # Data per version: a node refuses data written by a newer version (downgrades).
        "data": run / "data" / version,
        "logs": run / "logs",
    }
    if reset_data:
        shutil.rmtree(dirs["data"], ignore_errors=True)
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Fresh copy of the home's config (jvm.options, log4j2, plugin configs); the keystore the node
    # creates in config/ on first start is left alone.
    shutil.copytree(home / "config", dirs["config"], dirs_exist_ok=True)
    jvm_options = dirs["config"] / "jvm.options"
    jvm_options.write_text(
        localise_jvm_options(jvm_options.read_text(encoding="utf-8"), dirs["logs"]),
        encoding="utf-8",
    )
    return dirs


def localise_jvm_options(text: str, logs_dir: Path) -> str:
    """Point the relative ``logs/…`` and ``data`` paths of the stock jvm.options at ``logs_dir``.

    Stock jvm.options writes gc.log, hs_err files and heap dumps relative to the working directory.
    """
    text = re.sub(r"(?m)(-XX:HeapDumpPath=)data$", lambda m: f"{m.group(1)}{logs_dir}", text)
    text = re.sub(r"(?m)(-XX:ErrorFile=)logs/", lambda m: f"{m.group(1)}{logs_dir}/", text)
    return re.sub(r"(?m)(file=)logs/gc\.log", lambda m: f"{m.group(1)}{logs_dir}/gc.log", text)


def _launch(
    home: Path, env: dict[str, str], cwd: Path, console_log: Path, account: pwd.struct_passwd | None
) -> int:
    """Start ``bin/opensearch`` detached; return its pid (the JVM's, after the script's exec)."""
    script = '"$@" </dev/null >>"$SIGMA_ES_CONSOLE_LOG" 2>&1 & echo $!'
    env = {**env, "SIGMA_ES_CONSOLE_LOG": str(console_log)}
    drop: dict[str, Any] = {}
    if account is not None:
        drop = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        # Its passwd home (often /nonexistent) is useless; the JVM may want a writable user.home.
        env.update(HOME=str(cwd), USER=account.pw_name, LOGNAME=account.pw_name)
    proc = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(home / "bin" / "opensearch")],
        cwd=cwd,  # somewhere the node may write, in case anything uses relative paths
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no SIGINT/SIGHUP from the caller's terminal
        timeout=30,
        check=False,
        **drop,
    )
    try:
        return int(proc.stdout.strip())
    except ValueError:
        raise ClusterError(f"could not launch {home / 'bin' / 'opensearch'}: {proc.stderr.strip()}") from None


def start_node(
    root: Path,
    version: str,
    *,
    timeout: float = 180,
    heap: str | None = None,
    reset_data: bool = False,
) -> NodeInfo:
    """Start the node of ``root`` (caller holds the lock); see :func:`sigma_es_backend.cluster.start`."""
    state = read_state(root)
    if state is not None and is_our_node(state["pid"], Path(state["home"])):
        if state["version"] != version:
            raise ClusterError(
                f"OpenSearch {state['version']} is already running (pid {state['pid']}); stop it first to run {version}"
            )
        return _wait_healthy(root, state, timeout, started_by_us=False)
    clear_state(root)
    heap = heap_size(heap)
    account = run_as_user()
    java_home = resolve_java_home()
    _check_reachable(account, [root, java_home])  # fail before a long assembly

    assembly = assemble(root, version)
    if assembly.reused:  # a fresh assembly has just reported them itself
        _warn_missing(assembly)
    dirs = _prepare_run_dir(root, assembly.home, version, reset_data)
    if account is not None:
        for own in (root, root / "dist", dirs["run"]):
            own.chmod(own.stat().st_mode | 0o111)  # traversable (not listable) for the node's user
        _check_reachable(account, [assembly.home, dirs["run"]])
    http_port = free_port()
    transport_port = free_port(exclude=(http_port,))
    (dirs["config"] / "opensearch.yml").write_text(
        render_settings(http_port, transport_port, dirs["data"], dirs["logs"]), encoding="utf-8"
    )
    env = plugin_tool_env(assembly.home, java_home)
    env["OPENSEARCH_PATH_CONF"] = str(dirs["config"])
    env["OPENSEARCH_JAVA_OPTS"] = f"-Xms{heap} -Xmx{heap}"  # appended last, so it wins over jvm.options
    console_log = dirs["logs"] / "console.log"
    log_file = dirs["logs"] / f"{CLUSTER_NAME}.log"
    for stale in (console_log, log_file):
        stale.unlink(missing_ok=True)  # a failure report must show this start's log, not the last one
    if account is not None:
        # Only these: run/ itself (state.json) stays root's, so the node cannot forge its state.
        _hand_over([dirs["run"] / name for name in ("config", "data", "logs")], account)

    progress(f"starting OpenSearch {version} on http://127.0.0.1:{http_port} (heap {heap})")
    pid = _launch(assembly.home, env, dirs["logs"], console_log, account)
    state = {
        "pid": pid,
        "url": f"http://127.0.0.1:{http_port}",
        "http_port": http_port,
        "transport_port": transport_port,
        "version": version,
        "home": str(assembly.home),
        "config_dir": str(dirs["config"]),
        "data_dir": str(dirs["data"]),
        "logs_dir": str(dirs["logs"]),
        "log_file": str(log_file),
        "console_log": str(console_log),
        "java_home": str(java_home),
        "user": account.pw_name if account is not None else None,
        "plugins": list(assembly.plugins),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_state(root, state)
    return _wait_healthy(root, state, timeout, started_by_us=True)


def _warn_missing(assembly: Assembly) -> None:
    for line in assembly.missing:
        progress(f"WARNING plugin unavailable: {line}")


def _wait_healthy(root: Path, state: dict[str, Any], timeout: float, started_by_us: bool) -> NodeInfo:
    """Poll cluster health until yellow/green; on failure print the log tail and raise."""
    started = time.monotonic()
    deadline = started + timeout
    home = Path(state["home"])
    while True:
        if not is_our_node(state["pid"], home):
            reason = f"OpenSearch exited during start-up (pid {state['pid']})"
            break
        if cluster_health(state["url"], timeout=3.0) in _HEALTHY:
            if started_by_us:
                progress(f"OpenSearch is up after {time.monotonic() - started:.0f}s")
            return node_info(state)
        if time.monotonic() >= deadline:
            reason = f"OpenSearch not healthy after {timeout:.0f}s (pid {state['pid']})"
            break
        time.sleep(1.0)
    if started_by_us:
        # Leave nothing half-started behind: the next start must begin from a clean slate.
        _terminate(state["pid"], home, grace=20)
    print(log_tail(state), file=sys.stderr, flush=True)
    if started_by_us or not is_our_node(state["pid"], home):
        clear_state(root)
    raise ClusterError(f"{reason}; log: {state['log_file']}")


# ---------------------------------------------------------------------------------------------
# Stop


def _terminate(pid: int, home: Path, grace: float) -> None:
    """SIGTERM ``pid``, SIGKILL it after ``grace`` seconds; return when it is gone."""
    if not is_our_node(pid, home):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return
    progress(f"node pid {pid} ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 15):
        raise ClusterError(f"node pid {pid} survived SIGKILL")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our child
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return not pid_alive(pid)


def stop_node(root: Path, timeout: float = 30) -> bool:
    """Stop the node of ``root`` (caller holds the lock).  True if a node was running."""
    state = read_state(root)
    if state is None:
        return False
    running = is_our_node(state["pid"], Path(state["home"]))
    if running:
        progress(f"stopping OpenSearch (pid {state['pid']})")
        _terminate(state["pid"], Path(state["home"]), grace=timeout)
    clear_state(root)
    return running


def fetch_dist(root: Path, version: str, force: bool = False) -> Assembly:
    """Assemble (caller holds the lock), refusing to rebuild a home that a live node runs from."""
    state = read_state(root)
    home = dist_home(root, version)
    if state is not None and Path(state["home"]) == home and is_our_node(state["pid"], home):
        marker = read_marker(home)
        if force or not marker or marker.get("spec") != build_spec(root, version):
            raise ClusterError(f"a node runs from {home} (pid {state['pid']}); stop it before reassembling")
    return assemble(root, version, force=force)
