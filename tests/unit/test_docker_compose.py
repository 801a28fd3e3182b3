"""Static checks of docker-compose.yml and .env.example (no Docker engine needed).

They pin the essentials of the local Elasticsearch/Kibana + OpenSearch/Dashboards setup:
services, health checks, start order, security settings, ports, and that every secret
comes from a ${VAR} defined in .env.example rather than being written into the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

SERVICES = {"setup", "elasticsearch", "kibana", "opensearch", "opensearch-dashboards"}
LONG_RUNNING = ("elasticsearch", "kibana", "opensearch", "opensearch-dashboards")
SECRET_KEY = re.compile(r"PASSWORD|ENCRYPTIONKEY|API_KEY|SECRET", re.IGNORECASE)

# One Compose interpolation token: "$$" (escaped dollar, left for the container's shell),
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, or $NAME.
_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>.|$))"
)


def _load_env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f".env.example line {number} is not NAME=value: {raw!r}"
        name, value = line.split("=", 1)
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"bad variable name on line {number}: {name!r}"
        assert name not in values, f"{name} defined twice in .env.example"
        values[name] = value
    return values


def _strings(node):
    """Every string in the parsed YAML (keys are plain names here, values matter)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _references(text: str):
    """(name, operator, argument) for each ${...}/$NAME reference; $$ escapes are skipped."""
    for match in _TOKEN.finditer(text):
        if match["escaped"]:
            continue
        assert match["invalid"] is None, f"invalid interpolation (use $$ for a literal $) in {text!r}"
        yield (match["braced"] or match["bare"], match["op"], match["arg"])


def _interpolate(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        value = env.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        if value is None or (op == ":?" and value == ""):
            raise AssertionError(f"{name} is not set: {arg or ''}")
        return value

    return _TOKEN.sub(replace, text)


def _interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return _interpolate(node, env)
    return node


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {key: "" if value is None else str(value) for key, value in env.items()}
    result = {}
    for item in env:
        key, _, value = item.partition("=")
        result[key] = value
    return result


def _published(service: dict) -> dict[int, int]:
    """container port -> host port, from short-syntax "[IP:]HOST:CONTAINER" entries."""
    mapping = {}
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) in (2, 3), f"unexpected port syntax {entry!r}"
        mapping[int(parts[-1])] = int(parts[-2])
    return mapping


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return _load_env_example()


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolved(raw, env_example) -> dict:
    """The compose file as Compose sees it with `cp .env.example .env`."""
    return _interpolate_tree(raw, env_example)


def test_services(raw):
    assert set(raw["services"]) == SERVICES
    assert "version" not in raw, "the top-level version key is obsolete in the Compose Specification"


def test_healthchecks_on_long_running_services(raw):
    for name in (*LONG_RUNNING, "setup"):
        check = raw["services"][name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable", False)
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert int(check["retries"]) >= 30, f"{name}: give slow first starts enough retries"
    es = " ".join(raw["services"]["elasticsearch"]["healthcheck"]["test"])
    assert "--cacert" in es and "https://localhost:9200" in es and " -k" not in es
    assert "/api/status" in " ".join(raw["services"]["kibana"]["healthcheck"]["test"])
    os_check = " ".join(raw["services"]["opensearch"]["healthcheck"]["test"])
    assert "https://localhost:9200/_cluster/health" in os_check and "-u" in os_check
    assert "/api/status" in " ".join(raw["services"]["opensearch-dashboards"]["healthcheck"]["test"])


def test_start_order(raw):
    services = raw["services"]
    assert services["elasticsearch"]["depends_on"] == {"setup": {"condition": "service_healthy"}}
    assert services["kibana"]["depends_on"]["elasticsearch"] == {"condition": "service_healthy"}
    assert services["kibana"]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    assert services["opensearch-dashboards"]["depends_on"] == {"opensearch": {"condition": "service_healthy"}}
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert spec["condition"] in ("service_healthy", "service_completed_successfully")


def test_elasticsearch_security_and_node_settings(resolved):
    es = _environment(resolved["services"]["elasticsearch"])
    for key in (
        "xpack.security.enabled",
        "xpack.security.http.ssl.enabled",
        "xpack.security.transport.ssl.enabled",
    ):
        assert es.get(key) == "true", key
    assert es["xpack.security.http.ssl.certificate_authorities"] == "certs/ca/ca.crt"
    assert es["discovery.type"] == "single-node"
    assert es["ES_JAVA_OPTS"] == "-Xms1g -Xmx1g"
    assert es["ELASTIC_PASSWORD"]
    for name in ("elasticsearch", "opensearch"):
        limits = resolved["services"][name]["ulimits"]
        assert limits["memlock"] == {"soft": -1, "hard": -1}, name
        assert limits["nofile"]["soft"] >= 65536 and limits["nofile"]["hard"] >= 65536, name
        assert resolved["services"][name].get("mem_limit"), name


def test_setup_creates_certificates_and_kibana_password(raw):
    setup = raw["services"]["setup"]
    script = " ".join(setup["command"]) if isinstance(setup["command"], list) else setup["command"]
    assert "elasticsearch-certutil ca" in script and "elasticsearch-certutil cert" in script
    assert "_security/user/kibana_system/_password" in script
    assert "certs:/usr/share/elasticsearch/config/certs" in setup["volumes"]
    assert "certs:/usr/share/elasticsearch/config/certs" in raw["services"]["elasticsearch"]["volumes"]
    assert "certs:/usr/share/kibana/config/certs" in raw["services"]["kibana"]["volumes"]


def test_kibana_settings(resolved, env_example):
    kibana = _environment(resolved["services"]["kibana"])
    assert kibana["ELASTICSEARCH_HOSTS"] == "https://elasticsearch:9200"
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana["ELASTICSEARCH_SSL_CERTIFICATEAUTHORITIES"] == "config/certs/ca/ca.crt"
    assert len(kibana["XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY"]) >= 32
    assert kibana["ELASTICSEARCH_PASSWORD"] == env_example["KIBANA_PASSWORD"]


def test_opensearch_security_settings(resolved):
    opensearch = _environment(resolved["services"]["opensearch"])
    assert opensearch["discovery.type"] == "single-node"
    assert opensearch["OPENSEARCH_JAVA_OPTS"] == "-Xms1g -Xmx1g"
    assert opensearch["OPENSEARCH_INITIAL_ADMIN_PASSWORD"]
    assert opensearch.get("DISABLE_SECURITY_PLUGIN", "false") != "true"
    assert opensearch.get("DISABLE_INSTALL_DEMO_CONFIG", "false") != "true"
    assert "plugins.security.disabled" not in opensearch
    dashboards = _environment(resolved["services"]["opensearch-dashboards"])
    assert dashboards["OPENSEARCH_HOSTS"] == '["https://opensearch:9200"]'
    assert dashboards.get("DISABLE_SECURITY_DASHBOARDS_PLUGIN", "false") != "true"


def test_images_pinned_and_matching(raw, env_example):
    services = raw["services"]
    for name in ("setup", "elasticsearch"):
        assert services[name]["image"].startswith(
            "docker.elastic.co/elasticsearch/elasticsearch:${STACK_VERSION"
        )
    assert services["kibana"]["image"].startswith("docker.elastic.co/kibana/kibana:${STACK_VERSION")
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:${OPENSEARCH_VERSION")
    assert services["opensearch-dashboards"]["image"].startswith(
        "opensearchproject/opensearch-dashboards:${OPENSEARCH_VERSION"
    )
    assert re.fullmatch(r"8\.\d+\.\d+", env_example["STACK_VERSION"])
    assert re.fullmatch(r"2\.19\.\d+", env_example["OPENSEARCH_VERSION"])


def test_ports(resolved):
    services = resolved["services"]
    assert _published(services["elasticsearch"]) == {9200: 9200}
    assert _published(services["kibana"]) == {5601: 5601}
    assert _published(services["opensearch"]) == {9200: 9201}
    assert _published(services["opensearch-dashboards"]) == {5601: 5602}
    assert "ports" not in services["setup"]


def test_secrets_come_from_variables(raw, env_example):
    for name, service in raw["services"].items():
        for key, value in _environment(service).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(:?\?[^}]*)?\}", value), (
                    f"{name}: {key} must be a required ${{VAR}} reference, not {value!r}"
                )
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for key, value in env_example.items():
        if SECRET_KEY.search(key):
            assert value not in text, f"the placeholder of {key} is written into docker-compose.yml"


def test_every_variable_is_defined_in_env_example(raw, env_example):
    used = {}
    for text in _strings(raw):
        for name, op, arg in _references(text):
            used.setdefault(name, set()).add((op, arg))
    assert used, "no ${VAR} references found"
    missing = sorted(set(used) - set(env_example))
    assert not missing, f"used in docker-compose.yml but not defined in .env.example: {missing}"
    unused = sorted(set(env_example) - set(used))
    assert not unused, f"defined in .env.example but not used: {unused}"
    for name, forms in used.items():
        for op, arg in forms:
            if op in (":-", "-"):
                assert arg == env_example[name], f"default of ${{{name}}} differs from .env.example"


def test_required_variables_fail_fast_without_env(raw):
    for name in (
        "ELASTIC_PASSWORD",
        "KIBANA_PASSWORD",
        "OPENSEARCH_INITIAL_ADMIN_PASSWORD",
        "XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY",
    ):
        forms = {op for text in _strings(raw) for ref, op, _ in _references(text) if ref == name}
        assert forms == {":?"}, f"{name} should be referenced as ${{{name}:?message}}"


def test_env_example_placeholders_satisfy_password_rules(env_example):
    for key in ("ELASTIC_PASSWORD", "KIBANA_PASSWORD"):
        # letters and digits only: the setup script embeds them in a shell command and JSON
        assert re.fullmatch(r"[A-Za-z0-9]{6,}", env_example[key]), key
    admin = env_example["OPENSEARCH_INITIAL_ADMIN_PASSWORD"]
    assert 8 <= len(admin) <= 100
    assert re.search(r"[A-Z]", admin) and re.search(r"[a-z]", admin) and re.search(r"[0-9]", admin)
    assert re.search(r"[^A-Za-z0-9]", admin)
    assert "admin" not in admin.lower()
    for key in (
        "XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY",
        "XPACK_SECURITY_ENCRYPTIONKEY",
        "XPACK_REPORTING_ENCRYPTIONKEY",
    ):
        assert len(env_example[key]) >= 32, key
    for key, value in env_example.items():
        assert not re.search(r"[\s$#'\"\\]", value), f"{key}: keep .env values plain"


def test_usage_header(env_example):
    header = COMPOSE_FILE.read_text(encoding="utf-8").split("\nservices:", 1)[0]
    for needle in (
        "cp .env.example .env && docker compose up -d",
        "docker compose cp elasticsearch:/usr/share/elasticsearch/config/certs/ca/ca.crt .",
        "https://localhost:9200",
        "http://localhost:5601",
        "https://localhost:9201",
        "http://localhost:5602",
        "SIGMA_ES_ELASTICSEARCH_URL",
        "SIGMA_ES_KIBANA_URL",
        "SIGMA_ES_OPENSEARCH_URL",
        "SIGMA_ES_USERNAME",
        "SIGMA_ES_PASSWORD",
        "SIGMA_ES_API_KEY",
        "SIGMA_ES_CA_CERT",
        "SIGMA_ES_OPENSEARCH_INSECURE=true",
    ):
        assert needle in header, needle


def test_named_volumes(raw):
    declared = set(raw["volumes"])
    for name, service in raw["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in declared, f"{name} mounts {source!r}, which is not a named volume"
