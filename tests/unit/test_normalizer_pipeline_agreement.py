"""The ECS pipeline (mappings/windows) and the normalizer agree: a rule converted with es_eql matches
the normalized raw event it was written for, and not its near miss."""

from __future__ import annotations

import pytest

from sigma_es_backend.events.normalize import normalize_event
from tests.conftest import convert
from tests.eql_eval import eql_hits


def sysmon(event_id: int, **event_data: str) -> dict:
    return {"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                                 "EventID": event_id, "Channel": "Microsoft-Windows-Sysmon/Operational",
                                 "Computer": "ws1", "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00Z"}}},
                      "EventData": {"UtcTime": "2024-01-01 00:00:00.000", **event_data}}}


CASES = {
    "network_initiated": (
        "logsource: {category: network_connection, product: windows}\n"
        "detection:\n  sel:\n    Initiated: 'true'\n    DestinationPort: 4444\n  condition: sel",
        sysmon(3, Image="C:\\x.exe", Initiated="true", DestinationPort="4444", DestinationIp="192.0.2.1"),
        sysmon(3, Image="C:\\x.exe", Initiated="false", DestinationPort="4444", DestinationIp="192.0.2.1")),
    "registry_dword_details": (
        "logsource: {category: registry_set, product: windows}\n"
        "detection:\n  sel:\n    TargetObject|endswith: '\\DisableSR'\n    Details: 'DWORD (0x00000001)'\n"
        "  condition: sel",
        sysmon(13, EventType="SetValue", TargetObject="HKLM\\SOFTWARE\\X\\DisableSR", Details="DWORD (0x00000001)"),
        sysmon(13, EventType="SetValue", TargetObject="HKLM\\SOFTWARE\\X\\DisableSR", Details="DWORD (0x00000000)")),
    "process_user_domain": (
        "logsource: {category: process_creation, product: windows}\n"
        "detection:\n  sel:\n    User|contains: 'AUTHORI'\n    Image|endswith: '\\cmd.exe'\n  condition: sel",
        sysmon(1, Image="C:\\Windows\\System32\\cmd.exe", User="NT AUTHORITY\\SYSTEM"),
        sysmon(1, Image="C:\\Windows\\System32\\cmd.exe", User="CORP\\alice")),
    "image_load_hashes": (
        "logsource: {category: image_load, product: windows}\n"
        "detection:\n  sel:\n    Hashes|contains: 'IMPHASH=48472463F8365BD71B4D983D04D5966C'\n  condition: sel",
        sysmon(7, Image="C:\\a.exe", ImageLoaded="C:\\b.dll", Hashes="MD5=AA,IMPHASH=48472463F8365BD71B4D983D04D5966C"),
        sysmon(7, Image="C:\\a.exe", ImageLoaded="C:\\b.dll", Hashes="MD5=AA,IMPHASH=11111111111111111111111111111111")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_matches_its_normalized_event_only(name: str) -> None:
    body, hit, miss = CASES[name]
    (query,) = convert(f"title: {name}\nstatus: test\n{body}\n", "es_eql")
    documents = {"hit": normalize_event(hit), "miss": normalize_event(miss)}
    assert eql_hits(query, documents) == {"hit"}
