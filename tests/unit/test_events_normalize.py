"""The ECS normalizer: raw Windows events (EVTX JSON form) → documents as the Elastic integrations write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigma_es_backend.events.normalize import EventShapeError, normalize_event
from sigma_es_backend.events.readers import read_records
from sigma_es_backend.events.rules import (
    RULES_DIR,
    NormalizerConfigError,
    load_provider_rules,
    provider_table,
)


def raw_event(provider: str, event_id: int, channel: str, event_data: dict, **system) -> dict:
    return {"Event": {
        "System": {"Provider": {"#attributes": {"Name": provider, "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
                   "EventID": event_id, "Version": 5, "Level": 4, "Channel": channel, "Computer": "ws1.corp.local",
                   "EventRecordID": 42, "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.5Z"}},
                   "Execution": {"#attributes": {"ProcessID": 3000, "ThreadID": 4000}}, **system},
        "EventData": event_data}}


SYSMON_1 = raw_event("Microsoft-Windows-Sysmon", 1, "Microsoft-Windows-Sysmon/Operational", {
    "RuleName": "-", "UtcTime": "2024-05-01 10:00:00.123", "ProcessGuid": "{1A2B3C4D-0000-0000-0000-000000000001}",
    "ProcessId": 4242, "Image": "C:\\Windows\\System32\\cmd.exe", "FileVersion": "10.0", "Description": "Cmd",
    "Product": "Windows", "Company": "Microsoft Corporation", "OriginalFileName": "Cmd.Exe",
    "CommandLine": 'cmd.exe /c "echo a b" c', "CurrentDirectory": "C:\\Temp\\", "User": "CORP\\alice",
    "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "LogonId": "0x3e7", "TerminalSessionId": 1,
    "IntegrityLevel": "High", "Hashes": "MD5=ABC,SHA256=DEF,IMPHASH=00000000000000000000000000000000",
    "ParentProcessGuid": "{1A2B3C4D-0000-0000-0000-000000000002}", "ParentProcessId": 100,
    "ParentImage": "C:\\Windows\\explorer.exe", "ParentCommandLine": "explorer.exe", "ParentUser": "CORP\\alice"})


def test_sysmon_process_creation_as_the_integration_writes_it() -> None:
    doc = normalize_event(SYSMON_1)
    assert doc["@timestamp"] == "2024-05-01T10:00:00.123Z"
    assert doc["event"] == {"code": "1", "provider": "Microsoft-Windows-Sysmon", "kind": "event",
                            "category": ["process"], "type": ["start"], "action": "Process creation",
                            "dataset": "windows.sysmon_operational", "module": "windows"}
    assert doc["host"] == {"name": "ws1.corp.local"}
    assert doc["process"] == {
        "entity_id": "{1A2B3C4D-0000-0000-0000-000000000001}", "pid": 4242,
        "executable": "C:\\Windows\\System32\\cmd.exe", "name": "cmd.exe",
        "command_line": 'cmd.exe /c "echo a b" c', "args": ["cmd.exe", "/c", "echo a b", "c"], "args_count": 4,
        "working_directory": "C:\\Temp\\",
        "hash": {"md5": "abc", "sha256": "def"},
        "pe": {"original_file_name": "Cmd.Exe", "company": "Microsoft Corporation", "description": "Cmd",
               "file_version": "10.0", "product": "Windows"},
        "parent": {"entity_id": "{1A2B3C4D-0000-0000-0000-000000000002}", "pid": 100,
                   "executable": "C:\\Windows\\explorer.exe", "name": "explorer.exe",
                   "command_line": "explorer.exe", "args": ["explorer.exe"], "args_count": 1}}
    assert doc["user"] == {"domain": "CORP", "name": "alice"}
    # Renamed fields leave event_data; copied ones (Company, …) and unmapped ones stay, as strings.
    assert doc["winlog"]["event_data"] == {
        "FileVersion": "10.0", "Description": "Cmd", "Product": "Windows", "Company": "Microsoft Corporation",
        "LogonId": "0x3e7", "TerminalSessionId": "1", "IntegrityLevel": "High", "ParentUser": "CORP\\alice"}
    assert doc["winlog"]["event_id"] == "1"
    assert doc["winlog"]["provider_guid"] == "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
    assert doc["winlog"]["record_id"] == "42"
    assert doc["winlog"]["process"] == {"pid": 3000, "thread": {"id": 4000}}
    assert "rule" not in doc  # RuleName "-" is dropped


def test_sysmon_registry_dword_is_decimal_in_ecs_and_verbatim_in_event_data() -> None:
    doc = normalize_event(raw_event("Microsoft-Windows-Sysmon", 13, "Microsoft-Windows-Sysmon/Operational", {
        "EventType": "SetValue", "UtcTime": "2024-05-01 10:00:00.000", "Image": "C:\\Windows\\regedit.exe",
        "TargetObject": "HKLM\\SOFTWARE\\Policies\\X\\DisableSR", "Details": "DWORD (0x0000000a)",
        "User": "CORP\\bob"}))
    assert doc["registry"] == {"path": "HKLM\\SOFTWARE\\Policies\\X\\DisableSR", "value": "DisableSR",
                               "hive": "HKLM", "key": "SOFTWARE\\Policies\\X\\DisableSR",
                               "data": {"strings": ["10"], "type": "SZ_DWORD"}}
    assert doc["winlog"]["event_data"] == {"EventType": "SetValue", "Details": "DWORD (0x0000000a)"}
    assert doc["event"]["category"] == ["configuration", "registry"]


def test_sysmon_network_and_dns() -> None:
    network = normalize_event(raw_event("Microsoft-Windows-Sysmon", 3, "Microsoft-Windows-Sysmon/Operational", {
        "Image": "C:\\x.exe", "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false",
        "SourceIp": "10.0.0.5", "SourcePort": "50000", "DestinationIp": "192.0.2.1", "DestinationPort": "443",
        "DestinationHostname": "example.org", "DestinationPortName": "https"}))
    assert network["source"] == {"ip": "10.0.0.5", "port": 50000}
    assert network["destination"] == {"ip": "192.0.2.1", "port": 443, "domain": "example.org"}
    assert network["network"] == {"transport": "tcp", "protocol": "https", "direction": "egress", "type": "ipv4"}
    assert "winlog" in network and "event_data" not in network["winlog"]
    dns = normalize_event(raw_event("Microsoft-Windows-Sysmon", 22, "Microsoft-Windows-Sysmon/Operational", {
        "QueryName": "example.org", "QueryStatus": "0", "Image": "C:\\x.exe",
        "QueryResults": "type:  5 edge.example.net;::ffff:192.0.2.7;"}))
    assert dns["dns"] == {"question": {"name": "example.org"},
                          "answers": [{"type": "CNAME", "data": "edge.example.net"}, {"type": "A", "data": "192.0.2.7"}],
                          "resolved_ip": ["192.0.2.7"]}
    assert dns["sysmon"] == {"dns": {"status": "SUCCESS"}}
    assert dns["network"] == {"protocol": "dns"}


def test_security_4688_copies_ecs_fields_and_keeps_event_data() -> None:
    data = {"SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS1$", "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x3e7", "NewProcessId": "0x1a2c", "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
            "TokenElevationType": "%%1936", "ProcessId": "0x400", "CommandLine": "whoami /all",
            "ParentProcessName": "C:\\Windows\\System32\\cmd.exe", "MandatoryLabel": "S-1-16-16384"}
    doc = normalize_event(raw_event("Microsoft-Windows-Security-Auditing", 4688, "Security", data))
    assert doc["process"] == {"executable": "C:\\Windows\\System32\\whoami.exe", "pid": 0x1a2c,
                              "command_line": "whoami /all", "args": ["whoami", "/all"], "args_count": 2,
                              "name": "whoami.exe",
                              "parent": {"executable": "C:\\Windows\\System32\\cmd.exe", "pid": 0x400,
                                         "name": "cmd.exe"}}
    assert doc["user"] == {"name": "WS1$", "domain": "CORP", "id": "S-1-5-18"}
    assert doc["winlog"]["event_data"] == data
    assert doc["event"]["category"] == ["process"] and doc["event"]["type"] == ["start"]


def test_security_4624_logon_user_is_the_target() -> None:
    doc = normalize_event(raw_event("Microsoft-Windows-Security-Auditing", 4624, "Security", {
        "SubjectUserName": "-", "TargetUserName": "alice", "TargetDomainName": "CORP", "LogonType": "3",
        "IpAddress": "192.0.2.9", "IpPort": "-", "WorkstationName": "WS2", "TargetLogonId": "0x9"}))
    assert doc["user"] == {"name": "alice", "domain": "CORP"}
    assert doc["source"] == {"ip": "192.0.2.9", "domain": "WS2"}
    assert doc["winlog"]["logon"] == {"id": "0x9", "type": "Network"}
    assert doc["winlog"]["event_data"]["LogonType"] == "3"
    assert doc["event"]["outcome"] == "success"


def test_powershell_4104_script_block_text() -> None:
    doc = normalize_event(raw_event("Microsoft-Windows-PowerShell", 4104, "Microsoft-Windows-PowerShell/Operational", {
        "MessageNumber": "1", "MessageTotal": "1", "ScriptBlockText": "Get-Process | Out-Null",
        "ScriptBlockId": "abc", "Path": ""}))
    assert doc["powershell"] == {"file": {"script_block_text": "Get-Process | Out-Null", "script_block_id": "abc"},
                                 "sequence": 1, "total": 1}
    assert "event_data" not in doc["winlog"]


def test_defender_names_with_spaces_become_underscores() -> None:
    doc = normalize_event(raw_event("Microsoft-Windows-Windows Defender", 1116,
                                    "Microsoft-Windows-Windows Defender/Operational", {
                                        "Threat Name": "Virus:DOS/EICAR_Test_File", "Path": "file:_C:\\t\\e.com",
                                        "Process Name": "C:\\Windows\\explorer.exe", "Detection User": "CORP\\al"}))
    assert doc["winlog"]["event_data"]["Threat_Name"] == "Virus:DOS/EICAR_Test_File"
    assert doc["file"] == {"path": "C:\\t\\e.com", "name": "e.com", "directory": "C:\\t", "extension": "com"}
    assert doc["process"] == {"executable": "C:\\Windows\\explorer.exe", "name": "explorer.exe"}
    assert doc["user"] == {"domain": "CORP", "name": "al"}
    assert doc["event"]["category"] == ["malware"]


def test_unknown_provider_keeps_winlog_faithfully() -> None:
    event = raw_event("Microsoft-Windows-TaskScheduler", 142, "Microsoft-Windows-TaskScheduler/Operational",
                      {"TaskName": "\\Evil", "UserName": "CORP\\al", "Empty": ""})
    doc = normalize_event(event)
    assert doc == {
        "@timestamp": "2024-05-01T10:00:00.5Z",
        "event": {"code": "142", "provider": "Microsoft-Windows-TaskScheduler", "kind": "event"},
        "host": {"name": "ws1.corp.local"}, "log": {"level": "information"},
        "winlog": {"channel": "Microsoft-Windows-TaskScheduler/Operational", "event_id": "142",
                   "provider_name": "Microsoft-Windows-TaskScheduler", "computer_name": "ws1.corp.local",
                   "provider_guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}", "record_id": "42",
                   "process": {"pid": 3000, "thread": {"id": 4000}}, "version": 5,
                   "event_data": {"TaskName": "\\Evil", "UserName": "CORP\\al"}}}


def test_unnamed_event_data_becomes_params() -> None:
    event = raw_event("PowerShell", 400, "Windows PowerShell", {"Data": ["Available", "None", "HostName=ConsoleHost"]},
                      EventID={"#attributes": {"Qualifiers": 0}, "#text": 400})
    doc = normalize_event(event)
    assert doc["event"]["code"] == "400"
    assert doc["winlog"]["event_data"] == {"param1": "Available", "param2": "None", "param3": "HostName=ConsoleHost"}


def test_not_a_windows_event_is_an_error() -> None:
    with pytest.raises(EventShapeError):
        normalize_event({"Event": {"EventData": {}}})


def test_reader_reports_bad_records_and_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps(SYSMON_1) + "\n{broken\n" + json.dumps({"Event": {}}) + "\n"
                    + json.dumps({"@timestamp": "2024-01-01T00:00:00Z", "event": {"code": "1"}}) + "\n")
    records = list(read_records(path))
    assert [r.document is not None for r in records] == [True, False, False, True]
    assert records[1].location == f"{path}#2"
    assert records[3].document == {"@timestamp": "2024-01-01T00:00:00Z", "event": {"code": "1"}}


def test_evtx_and_its_json_export_give_the_same_documents(shared_dir: Path) -> None:
    sample = next(iter(sorted((shared_dir / "sigma/regression_data/rules/windows/registry").rglob("*.evtx"))))
    from_evtx = [r.document for r in read_records(sample)]
    from_json = [r.document for r in read_records(sample.with_suffix(".json"))]
    assert from_evtx and from_evtx == from_json


def test_every_regression_sample_normalizes(shared_dir: Path) -> None:
    samples = sorted((shared_dir / "sigma/regression_data").rglob("*.evtx"))
    assert len(samples) >= 100
    errors = [r for path in samples for r in read_records(path) if r.document is None]
    assert errors == []


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_rule_files_load(path: Path) -> None:
    rules = load_provider_rules(path)
    assert rules.providers and rules.fields


def test_provider_table_covers_the_integration_providers() -> None:
    assert {"Microsoft-Windows-Sysmon", "Microsoft-Windows-Security-Auditing", "Microsoft-Windows-PowerShell",
            "Microsoft-Windows-Windows Defender"} <= set(provider_table())


def test_malformed_rule_file_names_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("providers: [X]\ndataset: x.y\nfields:\n  - {from: A, to: b, as: nope}\n")
    with pytest.raises(NormalizerConfigError, match=r"bad.yml: fields\[0\]: unknown transform 'nope'"):
        load_provider_rules(path)
