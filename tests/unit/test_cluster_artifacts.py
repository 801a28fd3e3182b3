"""Unit tests of the local OpenSearch launcher (sigma_es_backend.cluster): no network, no JVM."""

from __future__ import annotations

import importlib
import json
import os
import pwd
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import sigma_es_backend.cluster as cluster
from sigma_es_backend.cluster import ClusterError, NodeInfo, artifacts, assemble, node
from sigma_es_backend.cluster.artifacts import Coordinate
from sigma_es_backend.cluster.cli import cluster as cluster_cli

# `sigma_es_backend.cluster.fetch` is the public function; the submodule of the same name:
fetch = importlib.import_module("sigma_es_backend.cluster.fetch")

# --- coordinates ------------------------------------------------------------------------------


def test_parse_three_part_coordinate_defaults_to_jar() -> None:
    coord = Coordinate.parse("org.opensearch.plugin:lang-painless:2.19.6")
    assert coord == Coordinate("org.opensearch.plugin", "lang-painless", "2.19.6", "jar", "")
    assert str(coord) == "org.opensearch.plugin:lang-painless:2.19.6:jar"


def test_parse_packaging_and_classifier_round_trip() -> None:
    text = "org.example:thing:1.0:zip:linux-x64"
    coord = Coordinate.parse(text)
    assert (coord.packaging, coord.classifier) == ("zip", "linux-x64")
    assert str(coord) == text
    assert coord.filename == "thing-1.0-linux-x64.zip"


@pytest.mark.parametrize("bad", ["org.example:thing", "org.example::1.0", "a:b:c:d:e:f", ""])
def test_parse_rejects_malformed_coordinates(bad: str) -> None:
    with pytest.raises(ValueError, match="bad Maven coordinate"):
        Coordinate.parse(bad)


def test_repository_path_and_url() -> None:
    coord = Coordinate.parse("org.opensearch.distribution.integ-test-zip:opensearch:2.19.6:zip")
    assert coord.repository_path == (
        "org/opensearch/distribution/integ-test-zip/opensearch/2.19.6/opensearch-2.19.6.zip"
    )
    assert coord.url("https://repo.example/maven2/") == (
        "https://repo.example/maven2/org/opensearch/distribution/integ-test-zip/opensearch/2.19.6/"
        "opensearch-2.19.6.zip"
    )
    assert coord.url().startswith("https://repo1.maven.org/maven2/org/opensearch/")


def test_plugin_version_is_core_plus_zero() -> None:
    assert artifacts.plugin_version("2.19.6") == "2.19.6.0"
    assert str(artifacts.expand("org.opensearch.plugin:alerting:{plugin}:zip", "2.19.4")) == (
        "org.opensearch.plugin:alerting:2.19.4.0:zip"
    )


@pytest.mark.parametrize("bad", ["2.19", "2.19.6.0", "latest", "2.19.6-SNAPSHOT"])
def test_check_version_rejects_non_release_versions(bad: str) -> None:
    with pytest.raises(ValueError, match="bad OpenSearch version"):
        artifacts.check_version(bad)


# --- the table ----------------------------------------------------------------------------------


def test_default_version_is_a_2_19_patch() -> None:
    assert artifacts.DEFAULT_VERSION.startswith("2.19.")


def test_required_coordinates_cover_distribution_and_module_jars() -> None:
    coords = artifacts.required_coordinates("2.19.6")
    assert coords[0] == artifacts.distribution("2.19.6")
    assert coords[0].packaging == "zip"
    assert len(coords) == len(set(coords))
    names = {c.artifact for c in coords}
    for expected in (
        "lang-painless",
        "opensearch-scripting-painless-spi",
        "antlr4-runtime",
        "asm",
        "lang-mustache-client",
        "compiler",
        "analysis-common",
        "reindex-client",
        "opensearch-rest-client",
    ):
        assert expected in names
    assert all(c.packaging == "jar" for c in coords[1:])
    # OpenSearch's own artifacts follow the requested core version.
    assert {c.version for c in coords if c.group.startswith("org.opensearch")} == {"2.19.6"}


def test_module_table_matches_opensearch_2_19() -> None:
    by_name = {m.name: m for m in artifacts.MODULES}
    assert set(by_name) == {"lang-painless", "lang-mustache", "analysis-common", "reindex"}
    assert by_name["lang-painless"].classname == "org.opensearch.painless.PainlessPlugin"
    assert by_name["lang-mustache"].classname == "org.opensearch.script.mustache.MustachePlugin"
    assert by_name["analysis-common"].classname == "org.opensearch.analysis.common.CommonAnalysisPlugin"
    assert by_name["reindex"].classname == "org.opensearch.index.reindex.ReindexPlugin"
    assert by_name["analysis-common"].extended_plugins == ("lang-painless",)
    assert "createClassLoader" in by_name["lang-painless"].policy
    assert "accessDeclaredMembers" in by_name["lang-mustache"].policy
    for module in artifacts.MODULES:
        assert module.policy.strip().startswith("grant")


def test_plugins_install_in_dependency_order() -> None:
    names = [p.name for p in artifacts.PLUGINS]
    assert names == ["opensearch-job-scheduler", "opensearch-alerting", "opensearch-security-analytics"]
    for index, plugin in enumerate(artifacts.PLUGINS):
        # a plugin may only require plugins installed before it
        assert set(plugin.requires) <= set(names[:index])
        assert artifacts.expand(plugin.coordinate, "2.19.6").version == "2.19.6.0"


def test_render_descriptor() -> None:
    module = next(m for m in artifacts.MODULES if m.name == "analysis-common")
    text = artifacts.render_descriptor(module, "2.19.6")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props == {
        "description": module.description,
        "version": "2.19.6",
        "name": "analysis-common",
        "classname": "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "java.version": "11",
        "opensearch.version": "2.19.6",
        "extended.plugins": "lang-painless",
        "has.native.controller": "false",
    }


def test_local_zip_names_accept_maven_and_gradle_names() -> None:
    alerting = next(p for p in artifacts.PLUGINS if p.name == "opensearch-alerting")
    assert artifacts.local_zip_names(alerting, "2.19.6") == (
        "alerting-2.19.6.0.zip",
        "opensearch-alerting-2.19.6.0.zip",
    )
    scheduler = artifacts.PLUGINS[0]
    assert artifacts.local_zip_names(scheduler, "2.19.6") == ("opensearch-job-scheduler-2.19.6.0.zip",)


# --- fetching -----------------------------------------------------------------------------------


def test_render_pom_is_valid_xml_listing_every_artifact(tmp_path: Path) -> None:
    coords = [Coordinate.parse("a.b:c:1"), Coordinate.parse("x.y:z:2:zip:cls")]
    pom = fetch.render_pom(coords, tmp_path / "out", "https://repo.example/m2")
    root = ET.fromstring(pom)
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    items = root.findall(".//m:artifactItem", ns)
    assert [i.findtext("m:artifactId", namespaces=ns) for i in items] == ["c", "z"]
    assert items[1].findtext("m:classifier", namespaces=ns) == "cls"
    assert items[1].findtext("m:type", namespaces=ns) == "zip"
    assert root.findtext(".//m:repository/m:url", namespaces=ns) == "https://repo.example/m2"
    assert root.findtext(".//m:outputDirectory", namespaces=ns) == str(tmp_path / "out")


def test_render_pom_without_repository_uses_only_settings() -> None:
    assert "<repositories>" not in fetch.render_pom([Coordinate.parse("a:b:1")], Path("/o"))


def test_mvn_error_reason_extracts_the_cause() -> None:
    output = (
        "\x1b[0m\x1b[0m[ERROR] Failed to execute goal org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy "
        "(default-cli) on project fetch: Unable to find/resolve artifact. Could not find artifact "
        "org.opensearch.plugin:alerting:zip:2.19.6.0 in central (https://repo.maven.apache.org/maven2) -> [Help 1]\n"
        "[ERROR] \n[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.\n"
    )
    assert fetch.mvn_error_reason(output) == (
        "Unable to find/resolve artifact. Could not find artifact org.opensearch.plugin:alerting:zip:2.19.6.0 "
        "in central (https://repo.maven.apache.org/maven2)"
    )
    assert fetch.mvn_error_reason("no errors here") == "mvn failed without an [ERROR] line"


def test_cached_artifacts_are_not_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    coord = Coordinate.parse("a.b:c:1")
    cached = fetch.cached_path(tmp_path, coord)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"jar")

    def boom(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr(fetch, "_mvn_fetch", boom)
    monkeypatch.setattr(fetch, "_http_fetch", boom)
    assert fetch.fetch_artifacts([coord, coord], tmp_path) == {coord: cached}


def test_download_failure_is_one_line_naming_the_coordinate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_found(coord: Coordinate, dest: Path, repository: str) -> None:
        raise fetch._DownloadError(f"HTTP 404 Not Found from\n{coord.url(repository)}")

    monkeypatch.setattr(fetch, "_http_fetch", not_found)
    monkeypatch.setenv(fetch.ENV_REPOSITORY, "https://repo.example/m2/")
    coord = Coordinate.parse("org.opensearch.plugin:alerting:2.19.6.0:zip")
    with pytest.raises(ClusterError) as info:
        fetch.fetch_artifacts([coord], tmp_path, tool="https")
    message = str(info.value)
    assert message.startswith("download failed: org.opensearch.plugin:alerting:2.19.6.0:zip: https: HTTP 404")
    assert "https://repo.example/m2/org/opensearch/plugin/alerting/2.19.6.0/alerting-2.19.6.0.zip" in message
    assert "\n" not in message


def test_bad_fetcher_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fetch.ENV_FETCHER, "curl")
    with pytest.raises(ClusterError, match="SIGMA_ES_FETCHER"):
        fetch.fetcher_choice()
    assert fetch.fetcher_choice("HTTPS") == "https"


def test_repository_url_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fetch.ENV_REPOSITORY, raising=False)
    assert fetch.repository_url() == "https://repo1.maven.org/maven2"
    monkeypatch.setenv(fetch.ENV_REPOSITORY, "https://mirror.example/maven/")
    assert fetch.repository_url() == "https://mirror.example/maven"


def test_package_fetch_is_the_function_not_the_submodule() -> None:
    # fetch.py and fetch() share a name; importing the submodule must not shadow the API.
    import sigma_es_backend.cluster.fetch  # noqa: F401

    assert callable(cluster.fetch)
    assert cluster.fetch.__module__ == "sigma_es_backend.cluster"


# --- java -----------------------------------------------------------------------------------------


def _fake_jdk(tmp_path: Path, version: str) -> Path:
    home = tmp_path / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.mark.parametrize(("text", "major"), [('JAVA_VERSION="17.0.15"', 17), ('JAVA_VERSION="1.8.0_392"', 8)])
def test_java_major(text: str, major: int) -> None:
    assert assemble.java_major(f"X=1\n{text}\n") == major
    assert assemble.java_major("nothing") is None


def test_java_home_from_env_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMA_ES_JAVA_HOME", str(_fake_jdk(tmp_path, "21.0.2")))
    assert assemble.resolve_java_home() == tmp_path / "jdk-21.0.2"
    monkeypatch.setenv("SIGMA_ES_JAVA_HOME", str(_fake_jdk(tmp_path, "25")))
    with pytest.raises(ClusterError, match=r"java 25 .* cannot run OpenSearch 2\.x"):
        assemble.resolve_java_home()
    monkeypatch.setenv("SIGMA_ES_JAVA_HOME", str(tmp_path / "missing"))
    with pytest.raises(ClusterError, match="java not found: SIGMA_ES_JAVA_HOME="):
        assemble.resolve_java_home()


def test_no_java_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIGMA_ES_JAVA_HOME", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError) as info:
        assemble.resolve_java_home()
    assert str(info.value) == "java not found (set JAVA_HOME or SIGMA_ES_JAVA_HOME)"


# --- assembly -----------------------------------------------------------------------------------


def test_last_line_skips_java_stack_frames() -> None:
    output = (
        "-> Failed installing file:///x.zip\n"
        'Exception in thread "main" java.lang.IllegalArgumentException: Plugin [x] was built for '
        "OpenSearch version 2.19.5 but version 2.19.6 is running\n"
        "\tat org.opensearch.plugins.PluginsService.verifyCompatibility(PluginsService.java:397)\n"
        "\tat org.opensearch.plugins.PluginCli.main(PluginCli.java:60)\n"
    )
    assert assemble.last_line(output) == (
        "java.lang.IllegalArgumentException: Plugin [x] was built for OpenSearch version 2.19.5 "
        "but version 2.19.6 is running"
    )
    assert assemble.last_line("one\n\ntwo\n") == "two"
    assert assemble.last_line("") == "(no output)"


def test_jar_already_in_lib_is_detected() -> None:
    lib = {"reactor-core-3.7.19.jar", "opensearch-core-2.19.6.jar"}
    assert assemble._jar_in_lib(lib, Coordinate.parse("io.projectreactor:reactor-core:3.7.0"))
    # "opensearch" must not match "opensearch-core-…": the version has to follow the artifact id.
    assert not assemble._jar_in_lib(lib, Coordinate.parse("org.opensearch:opensearch:2.19.6"))
    assert not assemble._jar_in_lib(lib, Coordinate.parse("org.antlr:antlr4-runtime:4.13.1"))


def test_spec_changes_when_a_local_plugin_zip_appears(tmp_path: Path) -> None:
    before = assemble.build_spec(tmp_path, "2.19.6")
    assert before["version"] == "2.19.6"
    assert before["local_plugins"] == {}
    drop = assemble.local_plugin_dir(tmp_path)
    drop.mkdir()
    (drop / "opensearch-alerting-2.19.6.0.zip").write_bytes(b"zip")
    after = assemble.build_spec(tmp_path, "2.19.6")
    assert after != before
    assert list(after["local_plugins"]) == ["opensearch-alerting"]
    assert assemble.build_spec(tmp_path, "2.19.5") != after  # another version, another spec


def test_marker_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert assemble.read_marker(home) is None
    marker = {"spec": {"version": "2.19.6"}, "installed": ["opensearch-job-scheduler"], "missing": ["x: y"]}
    (home / assemble.MARKER).write_text(json.dumps(marker))
    result = assemble.assembly_from_marker(home, assemble.read_marker(home) or {}, reused=True)
    assert result == cluster.Assembly(home, "2.19.6", ("opensearch-job-scheduler",), ("x: y",), True)


# --- node ---------------------------------------------------------------------------------------


def test_render_settings_single_node_on_loopback(tmp_path: Path) -> None:
    text = node.render_settings(9201, 9301, tmp_path / "data dir", tmp_path / "logs")
    settings = dict(line.split(": ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert settings["discovery.type"] == '"single-node"'
    assert settings["network.host"] == '"127.0.0.1"'
    assert settings["http.port"] == "9201"
    assert settings["transport.port"] == "9301"
    assert json.loads(settings["path.data"]) == str(tmp_path / "data dir")
    assert not any(key.startswith("plugins.security") for key in settings)


def test_localise_jvm_options(tmp_path: Path) -> None:
    stock = (
        "-XX:HeapDumpPath=data\n-XX:ErrorFile=logs/hs_err_pid%p.log\n"
        "9-:-Xlog:gc*,gc+age=trace,safepoint:file=logs/gc.log:utctime,pid,tags:filecount=32,filesize=64m\n"
    )
    logs = tmp_path / "logs"
    text = node.localise_jvm_options(stock, logs)
    assert f"-XX:HeapDumpPath={logs}\n" in text
    assert f"-XX:ErrorFile={logs}/hs_err_pid%p.log" in text
    assert f"file={logs}/gc.log:utctime" in text


@pytest.mark.parametrize("heap", ["512m", "1g", "2G"])
def test_heap_size_accepts_jvm_sizes(heap: str) -> None:
    assert node.heap_size(heap) == heap


def test_heap_size_default_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(node.ENV_HEAP, raising=False)
    assert node.heap_size() == "1g"
    monkeypatch.setenv(node.ENV_HEAP, "768m")
    assert node.heap_size() == "768m"
    with pytest.raises(ClusterError, match="bad heap size 'lots'"):
        node.heap_size("lots")


def test_state_round_trip_and_node_info(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    assert node.read_state(tmp_path) is None
    state = {
        "pid": 4242,
        "url": "http://127.0.0.1:9200",
        "version": "2.19.6",
        "home": str(tmp_path / "home"),
        "log_file": str(tmp_path / "log"),
    }
    node.write_state(tmp_path, state)
    assert node.read_state(tmp_path) == state
    info = node.node_info(state)
    assert info == NodeInfo("http://127.0.0.1:9200", 4242, "2.19.6", tmp_path / "home", tmp_path / "log")
    with pytest.raises(AttributeError):
        info.url = "x"  # type: ignore[misc]  # frozen
    node.clear_state(tmp_path)
    assert node.read_state(tmp_path) is None


def test_pid_checks() -> None:
    assert node.pid_alive(os.getpid())
    assert not node.pid_alive(0)
    assert not node.is_our_node(0, Path("/nowhere"))


def test_unreachable_dir_reports_closed_directory(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    closed = tmp_path / "closed"
    inner = closed / "inner"
    inner.mkdir(parents=True)
    try:
        closed.chmod(0o600)  # not even its owner may enter (pure mode-bit logic, root included)
        assert node.unreachable_dir(inner, me) == closed
        closed.chmod(0o700)
        assert node.unreachable_dir(inner, me) is None
        assert node.unreachable_dir(inner / "not-created-yet", me) is None
        stranger = pwd.struct_passwd(("stranger", "x", 54321, 54321, "", "/", "/bin/sh"))
        blocked = node.unreachable_dir(inner, stranger)
        assert blocked is not None and (blocked == closed or blocked in closed.parents)
    finally:
        closed.chmod(0o755)


def test_free_ports_differ() -> None:
    first = node.free_port()
    assert node.free_port(exclude=(first,)) != first


# --- package and CLI ----------------------------------------------------------------------------


def test_resolve_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cluster.ENV_CACHE_DIR, str(tmp_path / "env"))
    assert cluster.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cluster.resolve_cache_dir() == tmp_path / "env"
    monkeypatch.delenv(cluster.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cluster.resolve_cache_dir() == tmp_path / "xdg" / "sigma-es"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cluster.resolve_cache_dir() == Path("/var/cache/sigma-es")


def test_resolve_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cluster.ENV_VERSION, raising=False)
    assert cluster.resolve_version() == artifacts.DEFAULT_VERSION
    monkeypatch.setenv(cluster.ENV_VERSION, "2.19.4")
    assert cluster.resolve_version() == "2.19.4"
    with pytest.raises(ClusterError, match="bad OpenSearch version"):
        cluster.resolve_version("2.x")


def test_status_when_nothing_runs(tmp_path: Path) -> None:
    assert cluster.status(tmp_path) is None
    result = CliRunner().invoke(cluster_cli, ["status", "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert json.loads(result.output) == {"running": False}


def test_stop_when_nothing_runs(tmp_path: Path) -> None:
    assert cluster.stop(tmp_path) is False
    result = CliRunner().invoke(cluster_cli, ["stop", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0


def test_cluster_error_becomes_click_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cluster_cli, ["start", "--heap", "lots", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: bad heap size 'lots'" in result.output
    assert "Traceback" not in result.output


def test_cli_group_has_the_four_commands() -> None:
    assert cluster_cli.name == "cluster"
    assert set(cluster_cli.commands) == {"start", "stop", "status", "fetch"}
