"""Mapping files: schema errors carry file and line; every target field exists in ECS or an integration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sigma_es_backend.pipelines.mapping_files import (
    Hashes,
    Integration,
    MappingError,
    SplitDomainUser,
    TokenList,
    Unavailable,
    ValueMap,
    load_default_mappings,
    load_mapping_files,
)

# Namespaces that integrations add beside ECS (not in ecs_flat.yml).
INTEGRATION_NAMESPACES = ("winlog.", "powershell.", "sysmon.",
                          # Elastic Defend keeps its extensions under *.Ext.
                          "process.Ext.", "file.Ext.",
                          # non-Windows integrations: each keeps its source's own members under its namespace
                          "aws.cloudtrail.", "azure.", "gcp.audit.", "google_workspace.", "o365.audit.", "okta.",
                          "github.", "kubernetes.audit.", "zeek.", "fortinet.firewall.", "cisco_duo.auth.",
                          "squid.", "system.auth.", "auditd.log.", "bitbucket.audit.")
# Fields the windows integration writes inside ECS namespaces without ECS defining them.
INTEGRATION_FIELDS = {"file.code_signature.signed"}
# EventData fields each integration's ingest pipeline moves (renames or drops) out of winlog.event_data:
# never query them there. Keyed by the integration data stream; the Custom Windows Event Logs
# integration (winlog) moves nothing.
MOVED_OUT_OF_EVENT_DATA = {
    "sysmon_operational": {"Image", "CommandLine", "ParentImage", "ParentCommandLine", "CurrentDirectory", "User",
                           "Hashes", "Hash", "TargetFilename", "TargetObject", "QueryName", "QueryStatus",
                           "QueryResults", "ImageLoaded", "SourceImage", "OriginalFileName", "SourceIp",
                           "DestinationIp", "SourcePort", "DestinationPort", "SourceHostname", "DestinationHostname",
                           "Protocol", "Initiated", "SourceIsIpv6", "DestinationIsIpv6", "ProcessGuid", "ProcessId",
                           "ParentProcessGuid", "ParentProcessId", "SourceProcessGuid", "SourceProcessGUID",
                           "SourceProcessId", "SourceThreadId", "Device", "PipeName", "Destination", "RuleName",
                           "UtcTime", "IsExecutable", "Archived"},
    "security": {"NewProcessName", "NewProcessId", "ParentProcessName"},
    "powershell_operational": {"ScriptBlockText", "ScriptBlockId", "Path", "ContextInfo", "Payload", "HostApplication",
                               "HostName", "HostVersion", "EngineVersion", "CommandLine", "MessageNumber",
                               "MessageTotal"},
    "powershell": {"param1", "param2", "param3", "HostApplication", "HostName", "HostVersion", "EngineVersion",
                   "NewEngineState", "PreviousEngineState", "ProviderName", "NewProviderState", "CommandLine"},
    "windows_defender": {"Process_Name", "Target_Commandline", "Parent_Commandline"},
}

DEFAULT = load_default_mappings()


@pytest.fixture(scope="module")
def ecs_fields(shared_dir: Path) -> set[str]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (shared_dir / "ecs/generated/ecs/ecs_flat.yml").open() as stream:
        return set(yaml.load(stream, Loader=loader))


def _targets(target) -> list[str]:
    if isinstance(target, str):
        return [target]
    if isinstance(target, tuple):
        return list(target)
    if isinstance(target, SplitDomainUser):
        return [target.domain, target.name]
    if isinstance(target, Hashes):
        return list(target.algorithms.values())
    if isinstance(target, ValueMap):
        return [target.field]
    if isinstance(target, TokenList):
        return [target.field]
    if isinstance(target, Unavailable):
        return []
    raise AssertionError(target)


@pytest.mark.parametrize("data_source", DEFAULT.data_sources, ids=lambda ds: ds.id)
def test_every_target_field_exists(data_source, ecs_fields: set[str]) -> None:
    targets = [t for target in data_source.fields.values() for t in _targets(target)] + list(data_source.filter)
    unknown = [t for t in targets if t not in ecs_fields and t not in INTEGRATION_FIELDS and not t.startswith(INTEGRATION_NAMESPACES)]
    assert unknown == []


@pytest.mark.parametrize("data_source", DEFAULT.data_sources, ids=lambda ds: ds.id)
def test_moved_fields_are_not_queried_in_event_data(data_source) -> None:
    moved = set().union(*(MOVED_OUT_OF_EVENT_DATA.get(i.integration or "", set()) for i in data_source.integrations))
    wrong = [f"{sigma} → {t}" for sigma, target in data_source.fields.items() for t in _targets(target)
             if t.startswith("winlog.event_data.") and t.removeprefix("winlog.event_data.") in moved]
    assert wrong == []


def test_every_windows_data_source_names_its_integration() -> None:
    # The moved-fields check above is keyed by integration: a Windows data source without one escapes it.
    assert [ds.id for ds in DEFAULT.data_sources if ds.product == "windows" and not ds.integrations] == []


def test_every_category_data_source_has_an_event_filter() -> None:
    assert [ds.id for ds in DEFAULT.data_sources if ds.category and not ds.filter] == []


def test_errors_name_file_and_line_and_all_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "data_sources:\n"
        "  - id: one\n"
        "    logsource: {product: windows, category: x}\n"
        "    index: [logs-*]\n"
        "    fields:\n"
        "      A: {upper_case: {}}\n"
        "    colour: red\n"
    )
    with pytest.raises(MappingError) as caught:
        load_mapping_files([bad])
    message = str(caught.value)
    assert f"{bad}:6: unknown transform 'upper_case' for field 'A'" in message
    assert f"{bad}:7: unknown key 'colour' in data source" in message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yml"
    bad.write_text("data_sources:\n  - id: [unclosed\n")
    with pytest.raises(MappingError, match=rf"{bad}:\d+: invalid YAML"):
        load_mapping_files([bad])


def test_duplicate_logsource_is_rejected(tmp_path: Path) -> None:
    text = ("data_sources:\n"
            "  - {id: a, logsource: {product: p}, index: [i], fields: {X: x.y}}\n"
            "  - {id: b, logsource: {product: p}, index: [i], fields: {X: x.y}}\n")
    (tmp_path / "dup.yml").write_text(text)
    with pytest.raises(MappingError, match=r"dup.yml:3: logsource already mapped at .*dup.yml:2"):
        load_mapping_files([tmp_path / "dup.yml"])


def test_integrations_and_setup_are_read(tmp_path: Path) -> None:
    (tmp_path / "ds.yml").write_text(
        "data_sources:\n"
        "  - id: a\n"
        "    logsource: {product: p}\n"
        "    index: [i]\n"
        "    integrations:\n"
        "      - {package: windows, integration: sysmon_operational, version: '>=1.0.0'}\n"
        "      - {package: endpoint, version: '^8.0.0'}\n"
        "    setup: Enable Sysmon event 1.\n"
        "    fields: {X: x.y}\n")
    (source,) = load_mapping_files([tmp_path / "ds.yml"]).data_sources
    assert source.integrations == (Integration("windows", ">=1.0.0", "sysmon_operational"),
                                   Integration("endpoint", "^8.0.0"))
    assert source.setup == "Enable Sysmon event 1."


def test_integration_without_version_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "ds.yml").write_text(
        "data_sources:\n"
        "  - id: a\n"
        "    logsource: {product: p}\n"
        "    index: [i]\n"
        "    integrations: [{package: windows}]\n"
        "    fields: {X: x.y}\n")
    with pytest.raises(MappingError, match=r"ds.yml:5: integration lacks required key 'version'"):
        load_mapping_files([tmp_path / "ds.yml"])


@pytest.mark.parametrize("data_source", DEFAULT.data_sources, ids=lambda ds: ds.id)
def test_windows_data_sources_say_what_ships_them(data_source) -> None:
    if data_source.product == "windows":
        assert data_source.integrations and data_source.setup
