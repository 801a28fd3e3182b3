"""What a local OpenSearch node is built from: a small declarative table of Maven coordinates.

Everything here is data plus pure helpers (no I/O), so the table can be read, fixed and unit-tested
on its own.  Coordinates may contain ``{core}`` (the OpenSearch version, e.g. ``2.19.6``) and
``{plugin}`` (the plugin version, core + ``.0``); :func:`expand` fills them in.

Why this shape:

* The integ-test zip is the only runnable OpenSearch on Maven Central.  It ships ``lib/`` and the
  transport module only, so the modules Alerting and Security Analytics lean on are rebuilt from
  their jars (see ``assemble.py``).  Each module lists its jar *and* the runtime dependencies that
  ``lib/`` does not already hold: a jar present twice fails OpenSearch's jar-hell check at boot.
* Third-party versions are the ones the 2.19.6 module POMs declare.  Another 2.19.x patch may pin
  slightly different ones; these are API-compatible in practice, but adjust here if a patch breaks.
* Plugin zips are optional when the repository does not serve them: the node then starts without
  them and the launcher says which coordinate failed.  On the Maven Central reachable from this
  project's machines only ``opensearch-job-scheduler`` is served among the three (checked
  2026-11-27: ``org.opensearch.plugin:alerting`` and ``org.opensearch.plugin:opensearch-security-analytics``
  return 404 for every 2.x version).  A zip dropped into the cache's ``local-plugins/`` directory
  is used instead of a download (see :func:`local_zip_names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Newest 2.19 patch whose distribution, module jars and job-scheduler zip all resolve.
DEFAULT_VERSION = "2.19.6"
DEFAULT_REPOSITORY = "https://repo1.maven.org/maven2"

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True, order=True)
class Coordinate:
    """A Maven artifact: ``group:artifact:version[:packaging[:classifier]]``."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"
    classifier: str = ""

    @classmethod
    def parse(cls, text: str) -> Coordinate:
        """Parse ``g:a:v[:packaging[:classifier]]``; raise ``ValueError`` on anything else."""
        parts = text.strip().split(":")
        if not 3 <= len(parts) <= 5 or not all(parts):
            raise ValueError(
                f"bad Maven coordinate {text!r} (want group:artifact:version[:packaging[:classifier]])"
            )
        group, artifact, version, *rest = parts
        packaging = rest[0] if rest else "jar"
        classifier = rest[1] if len(rest) > 1 else ""
        return cls(group, artifact, version, packaging, classifier)

    def __str__(self) -> str:
        # Same order as `mvn dependency:get -Dartifact=…`, so messages can be pasted into mvn.
        text = f"{self.group}:{self.artifact}:{self.version}:{self.packaging}"
        return f"{text}:{self.classifier}" if self.classifier else text

    @property
    def filename(self) -> str:
        """File name in a Maven repository, e.g. ``lang-painless-2.19.6.jar``."""
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.{self.packaging}"

    @property
    def repository_path(self) -> str:
        """Path relative to a Maven repository root (the standard layout)."""
        return "/".join([*self.group.split("."), self.artifact, self.version, self.filename])

    def url(self, repository: str = DEFAULT_REPOSITORY) -> str:
        """Download URL of the artifact in ``repository`` (trailing slashes tolerated)."""
        return f"{repository.rstrip('/')}/{self.repository_path}"


@dataclass(frozen=True)
class ModuleSpec:
    """A bundled module rebuilt as ``modules/<name>/``: jars plus descriptor and security policy."""

    name: str
    classname: str
    description: str
    jars: tuple[str, ...]
    extended_plugins: tuple[str, ...] = ()
    # Java security policy granted to the module's code (2.x runs under the Security Manager).
    policy: str = ""


@dataclass(frozen=True)
class PluginSpec:
    """A plugin zip installed with ``bin/opensearch-plugin install --batch`` (in table order)."""

    name: str  # the name `_cat/plugins` reports, also the install directory
    coordinate: str
    requires: tuple[str, ...] = ()  # plugins it extends: skipped when one of them is missing
    optional: bool = True  # a download failure only skips it (reported), instead of failing


DISTRIBUTION = "org.opensearch.distribution.integ-test-zip:opensearch:{core}:zip"

_PAINLESS_POLICY = """grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // needed to find the classloader to load allowlisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
"""

_MUSTACHE_POLICY = """grant {
  // mustache.java reflects over the objects it renders
  permission java.lang.RuntimePermission "accessDeclaredMembers";
};
"""

# `${codebase.<jar name without version>}` is defined by OpenSearch for every jar of the module, so
# the jar file names must keep the Maven `<artifact>-<version>.jar` form.
_REINDEX_POLICY = """grant {
  // reindex opens socket connections using the rest client
  permission java.net.SocketPermission "*", "connect";
};

grant codeBase "${codebase.opensearch-rest-client}" {
  // rest client uses system properties which gets the default proxy
  permission java.net.NetPermission "getProxySelector";
};

grant codeBase "${codebase.httpasyncclient}" {
  // rest client uses system properties which gets the default proxy
  permission java.net.NetPermission "getProxySelector";
};
"""

_EMPTY_POLICY = "grant {\n};\n"

# Order matters only for readability; OpenSearch sorts modules by their extended plugins.
MODULES: tuple[ModuleSpec, ...] = (
    ModuleSpec(
        name="lang-painless",
        classname="org.opensearch.painless.PainlessPlugin",
        description="An easy, safe and fast scripting language for OpenSearch",
        jars=(
            "org.opensearch.plugin:lang-painless:{core}",
            "org.opensearch.plugin:opensearch-scripting-painless-spi:{core}",
            "org.antlr:antlr4-runtime:4.13.1",
            "org.ow2.asm:asm:9.7",
            "org.ow2.asm:asm-util:9.7",
            "org.ow2.asm:asm-tree:9.7",
            "org.ow2.asm:asm-commons:9.7",
            "org.ow2.asm:asm-analysis:9.7",
        ),
        policy=_PAINLESS_POLICY,
    ),
    ModuleSpec(
        name="lang-mustache",
        classname="org.opensearch.script.mustache.MustachePlugin",
        description="Mustache scripting integration for OpenSearch",
        jars=(
            # The module jar is published as the "client" artifact (same classes).
            "org.opensearch.plugin:lang-mustache-client:{core}",
            "com.github.spullara.mustache.java:compiler:0.9.14",
        ),
        policy=_MUSTACHE_POLICY,
    ),
    ModuleSpec(
        name="analysis-common",
        classname="org.opensearch.analysis.common.CommonAnalysisPlugin",
        description='Adds "built in" analyzers to OpenSearch.',
        jars=("org.opensearch.plugin:analysis-common:{core}",),
        extended_plugins=("lang-painless",),
        policy=_EMPTY_POLICY,
    ),
    ModuleSpec(
        name="reindex",
        classname="org.opensearch.index.reindex.ReindexPlugin",
        description="The Reindex module adds APIs to reindex from one index to another or update documents in place.",
        jars=(
            "org.opensearch.plugin:reindex-client:{core}",
            "org.opensearch.client:opensearch-rest-client:{core}",
            "org.opensearch:opensearch-ssl-config:{core}",
            "org.apache.httpcomponents:httpclient:4.5.14",
            "org.apache.httpcomponents:httpcore:4.4.16",
            "org.apache.httpcomponents:httpasyncclient:4.1.5",
            "org.apache.httpcomponents:httpcore-nio:4.4.16",
            "commons-codec:commons-codec:1.18.0",
            "commons-logging:commons-logging:1.2",
            # reactor-core and reactive-streams (rest-client deps) are already in lib/.
        ),
        policy=_REINDEX_POLICY,
    ),
)

PLUGINS: tuple[PluginSpec, ...] = (
    PluginSpec(
        name="opensearch-job-scheduler",
        coordinate="org.opensearch.plugin:opensearch-job-scheduler:{plugin}:zip",
    ),
    PluginSpec(
        name="opensearch-alerting",
        coordinate="org.opensearch.plugin:alerting:{plugin}:zip",
        requires=("opensearch-job-scheduler",),
    ),
    PluginSpec(
        name="opensearch-security-analytics",
        coordinate="org.opensearch.plugin:opensearch-security-analytics:{plugin}:zip",
        requires=("opensearch-job-scheduler", "opensearch-alerting"),
    ),
)


def check_version(version: str) -> str:
    """Return ``version`` if it looks like ``2.19.6``; raise ``ValueError`` otherwise."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"bad OpenSearch version {version!r} (want e.g. {DEFAULT_VERSION})")
    return version


def plugin_version(core: str) -> str:
    """Plugin zips carry the core version plus a fourth component: ``2.19.6`` → ``2.19.6.0``."""
    return f"{check_version(core)}.0"


def expand(template: str, core: str) -> Coordinate:
    """Fill ``{core}``/``{plugin}`` in a coordinate template and parse it."""
    return Coordinate.parse(template.format(core=check_version(core), plugin=plugin_version(core)))


def distribution(core: str) -> Coordinate:
    """The integ-test zip of OpenSearch ``core``."""
    return expand(DISTRIBUTION, core)


def module_jars(module: ModuleSpec, core: str) -> list[Coordinate]:
    """The expanded jar coordinates of ``module``."""
    return [expand(jar, core) for jar in module.jars]


def required_coordinates(core: str, modules: tuple[ModuleSpec, ...] = MODULES) -> list[Coordinate]:
    """Everything that must download for a node to start: distribution and module jars."""
    coords = [distribution(core)]
    for module in modules:
        coords.extend(module_jars(module, core))
    return coords


def render_descriptor(module: ModuleSpec, core: str) -> str:
    """The ``plugin-descriptor.properties`` of a module built for OpenSearch ``core``.

    OpenSearch 2.x refuses a plugin whose ``opensearch.version`` differs from the running node, so
    the version is always the core version.
    """
    lines = [
        "# Generated by sigma-es: module rebuilt from its Maven Central jars",
        f"description={module.description}",
        f"version={check_version(core)}",
        f"name={module.name}",
        f"classname={module.classname}",
        "java.version=11",
        f"opensearch.version={core}",
        f"extended.plugins={','.join(module.extended_plugins)}",
        "has.native.controller=false",
    ]
    return "\n".join(lines) + "\n"


def local_zip_names(plugin: PluginSpec, core: str) -> tuple[str, ...]:
    """File names accepted for ``plugin`` in the ``local-plugins/`` drop-in directory.

    Both the Maven name (``alerting-2.19.6.0.zip``) and the Gradle build output name
    (``opensearch-alerting-2.19.6.0.zip``) are accepted; the version must match exactly because a
    plugin built for another core version does not install.
    """
    coord = expand(plugin.coordinate, core)
    names = [coord.filename, f"{plugin.name}-{coord.version}.{coord.packaging}"]
    return tuple(dict.fromkeys(names))
