"""Assemble a runnable OpenSearch home from the downloaded artifacts.

Steps (into a temporary directory, renamed into place only when complete, so a crash never leaves a
half-built home that a later run would trust):

1. unzip the integ-test distribution (keeping the executable bits zipfile drops);
2. lay out each module of ``artifacts.MODULES`` as ``modules/<name>/`` with its jars, a
   ``plugin-descriptor.properties`` and a ``plugin-security.policy``;
3. install the plugin zips in table order with ``bin/opensearch-plugin install --batch``;
4. write a marker file holding the spec; a later run with the same spec reuses the home as is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

from . import Assembly, ClusterError, progress
from .artifacts import (
    MODULES,
    PLUGINS,
    Coordinate,
    ModuleSpec,
    PluginSpec,
    distribution,
    expand,
    local_zip_names,
    module_jars,
    render_descriptor,
    required_coordinates,
)
from .fetch import fetch_artifacts

MARKER = ".sigma-es-assembly.json"
MARKER_FORMAT = 1
ENV_JAVA_HOME = "SIGMA_ES_JAVA_HOME"
# OpenSearch 2.x needs the Java Security Manager, which Java 24 removed.
JAVA_MIN, JAVA_MAX = 11, 23

_PLUGIN_INSTALL_TIMEOUT = 300


def dist_home(root: Path, version: str) -> Path:
    """The assembled home of ``version`` inside cache directory ``root``."""
    return root / "dist" / f"opensearch-{version}"


def local_plugin_dir(root: Path) -> Path:
    """Drop-in directory for plugin zips that the Maven repository does not serve."""
    return root / "local-plugins"


# ---------------------------------------------------------------------------------------------
# Java


def resolve_java_home() -> Path:
    """The Java home to run OpenSearch with: ``$SIGMA_ES_JAVA_HOME``, ``$JAVA_HOME``, else ``java`` on PATH.

    Raises :class:`ClusterError` when no java is found or its version cannot run OpenSearch 2.x.
    """
    for env in (ENV_JAVA_HOME, "JAVA_HOME"):
        value = os.environ.get(env)
        if value:
            home = Path(value).expanduser()
            if not (home / "bin" / "java").is_file():
                raise ClusterError(f"java not found: {env}={value} has no bin/java")
            break
    else:
        java = shutil.which("java")
        if not java:
            raise ClusterError(f"java not found (set JAVA_HOME or {ENV_JAVA_HOME})")
        # The integ-test zip has no bundled JDK and its scripts need a home, not a binary.
        home = Path(os.path.realpath(java)).parent.parent
    check_java_version(home)
    return home


def java_major(release_text: str) -> int | None:
    """Major version from a JDK ``release`` file (``JAVA_VERSION="17.0.15"`` → 17; ``"1.8.0"`` → 8)."""
    match = re.search(r'^JAVA_VERSION="?([0-9][0-9._]*)', release_text, re.MULTILINE)
    if not match:
        return None
    parts = match.group(1).split(".")
    major = int(parts[0])
    return int(parts[1]) if major == 1 and len(parts) > 1 else major


def check_java_version(home: Path) -> None:
    """Refuse a Java that OpenSearch 2.x cannot run on; silently accept one of unknown version."""
    try:
        major = java_major((home / "release").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    if major is not None and not JAVA_MIN <= major <= JAVA_MAX:
        raise ClusterError(
            f"java {major} at {home} cannot run OpenSearch 2.x (needs Java {JAVA_MIN}-{JAVA_MAX}, "
            f"e.g. 17 or 21; set {ENV_JAVA_HOME})"
        )


# ---------------------------------------------------------------------------------------------
# Spec and marker


def _local_zip(root: Path, plugin: PluginSpec, version: str) -> Path | None:
    for name in local_zip_names(plugin, version):
        candidate = local_plugin_dir(root) / name
        if candidate.is_file():
            return candidate
    return None


def build_spec(root: Path, version: str) -> dict:
    """Everything the assembled home depends on; a different spec means reassembling.

    Local drop-in zips are part of it (by name, size and mtime) so adding one triggers a rebuild.
    """
    local = {}
    for plugin in PLUGINS:
        path = _local_zip(root, plugin, version)
        if path is not None:
            stat = path.stat()
            local[plugin.name] = f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}"
    return {
        "format": MARKER_FORMAT,
        "version": version,
        "distribution": str(distribution(version)),
        "modules": {m.name: [str(c) for c in module_jars(m, version)] for m in MODULES},
        "plugins": [[p.name, str(expand(p.coordinate, version))] for p in PLUGINS],
        "local_plugins": local,
    }


def read_marker(home: Path) -> dict | None:
    """The marker of an assembled home, or None if absent or unreadable."""
    try:
        data = json.loads((home / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def assembly_from_marker(home: Path, marker: dict, reused: bool) -> Assembly:
    """The :class:`Assembly` a marker describes."""
    return Assembly(
        home=home,
        version=str(marker["spec"]["version"]),
        plugins=tuple(marker.get("installed", ())),
        missing=tuple(marker.get("missing", ())),
        reused=reused,
    )


def assemble(root: Path, version: str, force: bool = False) -> Assembly:
    """Return the assembled home of ``version``, building it first unless an identical one exists.

    The caller holds the cache lock and has made sure no node runs from the home.  Downloads come
    from (and go to) ``root/downloads``; a rebuild downloads nothing already there.
    """
    home = dist_home(root, version)
    spec = build_spec(root, version)
    marker = read_marker(home)
    if not force and marker and marker.get("spec") == spec and (home / "bin" / "opensearch").is_file():
        return assembly_from_marker(home, marker, reused=True)

    started = time.monotonic()
    java_home = resolve_java_home()
    downloads = root / "downloads"
    files = fetch_artifacts(required_coordinates(version), downloads)
    zips, missing = _plugin_zips(root, version, downloads)

    build = home.with_name(f".build-{home.name}-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    try:
        progress(f"assembling OpenSearch {version} in {home}")
        _unzip_distribution(files[distribution(version)], build)
        for module in MODULES:
            _lay_out_module(build, module, version, files)
        installed, skipped = _install_plugins(build, zips, java_home)
        missing.extend(skipped)
        marker = {
            "spec": spec,
            "installed": installed,
            "missing": missing,
            "assembled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (build / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _make_readable(build)
        _replace_dir(build, home)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    progress(f"assembled in {time.monotonic() - started:.0f}s; plugins: {', '.join(installed) or 'none'}")
    for line in missing:
        progress(f"WARNING plugin unavailable: {line}")
    return assembly_from_marker(home, marker, reused=False)


# ---------------------------------------------------------------------------------------------
# Steps


def _plugin_zips(
    root: Path, version: str, downloads: Path
) -> tuple[list[tuple[PluginSpec, Path]], list[str]]:
    """Local or downloaded zip per plugin, plus one line per plugin that could not be had."""
    zips: list[tuple[PluginSpec, Path]] = []
    missing: list[str] = []
    for plugin in PLUGINS:
        local = _local_zip(root, plugin, version)
        if local is not None:
            progress(f"using local plugin zip {local}")
            zips.append((plugin, local))
            continue
        coord = expand(plugin.coordinate, version)
        try:
            zips.append((plugin, fetch_artifacts([coord], downloads)[coord]))
        except ClusterError as exc:
            if not plugin.optional:
                raise
            # Keep the repository's own answer: it tells a wrong coordinate from an outage.
            missing.append(f"{plugin.name}: {exc}")
    return zips, missing


def _unzip_distribution(archive: Path, dest: Path) -> None:
    """Extract the distribution's single top-level directory as ``dest``, keeping file modes."""
    staging = dest.with_name(dest.name + ".unzip")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = staging / info.filename
                if not target.resolve().is_relative_to(staging.resolve()):
                    raise ClusterError(f"unsafe path in {archive.name}: {info.filename}")
                zf.extract(info, staging)
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    target.chmod(mode)
        tops = [p for p in staging.iterdir()]
        if len(tops) != 1 or not (tops[0] / "bin" / "opensearch").is_file():
            raise ClusterError(f"unexpected layout in {archive.name}: no single opensearch-*/bin/opensearch")
        tops[0].rename(dest)
    except zipfile.BadZipFile as exc:
        raise ClusterError(f"corrupt download {archive}: {exc} (delete it and retry)") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _jar_in_lib(lib_jars: set[str], coord: Coordinate) -> bool:
    """True if ``lib/`` already has some version of ``coord``'s jar (a second copy is jar hell)."""
    prefix = f"{coord.artifact}-"
    return any(name.startswith(prefix) and name[len(prefix) : len(prefix) + 1].isdigit() for name in lib_jars)


def _lay_out_module(home: Path, module: ModuleSpec, version: str, files: dict[Coordinate, Path]) -> None:
    """Create ``modules/<name>/`` with jars, descriptor and security policy."""
    target = home / "modules" / module.name
    target.mkdir(parents=True, exist_ok=False)
    lib_jars = {p.name for p in (home / "lib").glob("*.jar")}
    for coord in module_jars(module, version):
        if _jar_in_lib(lib_jars, coord):
            continue
        shutil.copy2(files[coord], target / coord.filename)
    (target / "plugin-descriptor.properties").write_text(render_descriptor(module, version), encoding="utf-8")
    (target / "plugin-security.policy").write_text(module.policy, encoding="utf-8")


def plugin_tool_env(home: Path, java_home: Path) -> dict[str, str]:
    """Environment for the OpenSearch scripts: our Java first, config of ``home``."""
    env = dict(os.environ)
    env["OPENSEARCH_JAVA_HOME"] = str(java_home)  # highest priority in bin/opensearch-env
    env["OPENSEARCH_PATH_CONF"] = str(home / "config")
    env.pop("OPENSEARCH_JAVA_OPTS", None)
    return env


def _install_plugins(
    home: Path, zips: list[tuple[PluginSpec, Path]], java_home: Path
) -> tuple[list[str], list[str]]:
    """Install the zips in order; skip (and report) a plugin whose prerequisite is absent."""
    installed: list[str] = []
    skipped: list[str] = []
    env = plugin_tool_env(home, java_home)
    for plugin, archive in zips:
        absent = [req for req in plugin.requires if req not in installed]
        if absent:
            skipped.append(f"{plugin.name}: skipped, requires {', '.join(absent)}, which is not installed")
            continue
        progress(f"installing plugin {plugin.name}")
        cmd = [str(home / "bin" / "opensearch-plugin"), "install", "--batch", archive.resolve().as_uri()]
        try:
            proc = subprocess.run(
                cmd,
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_PLUGIN_INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(f"plugin install failed: {plugin.name}: timed out") from None
        if proc.returncode != 0:
            raise ClusterError(
                f"plugin install failed: {plugin.name}: {last_line(proc.stdout + proc.stderr)}"
            )
        installed.append(plugin.name)
    return installed, skipped


_STACK_FRAME = re.compile(r"^(at |\.\.\. \d+ (more|common frames omitted))")


def last_line(output: str) -> str:
    """The last meaningful line of a command's output: Java stack frames are skipped, so a crash
    reports its (root-cause) exception message rather than ``at org.opensearch…main(…)``."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    meaningful = [line for line in lines if not _STACK_FRAME.match(line)]
    if not meaningful:
        return lines[-1] if lines else "(no output)"
    return re.sub(r'^Exception in thread "[^"]*" ', "", meaningful[-1])


def _make_readable(top: Path) -> None:
    """Let every user read the home: as root, the node runs as an unprivileged user (see node.py)."""
    for dirpath, _dirnames, filenames in os.walk(top):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


def _replace_dir(new: Path, final: Path) -> None:
    """Put ``new`` at ``final``, removing an older ``final`` (rename first, so it is never half gone)."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        new.rename(final)
