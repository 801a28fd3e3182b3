"""ECS-shaped Sysmon events for the WmiPrvSE seed rule, each with the answer Sigma gives.

Shapes follow the Elastic Agent windows integration (../shared/docs/FACTS.md): User "DOMAIN\\name" is
split into user.domain + user.name, LogonId stays in winlog.event_data.
"""

from __future__ import annotations

from typing import Any

WMIPRVSE = "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe"


def process_start(doc_id: str, parent: str = WMIPRVSE, image: str = "C:\\Windows\\System32\\cmd.exe",
                  domain: str | None = "CORP", name: str | None = "alice", logon_id: str | None = "0x1a2b3",
                  event_type: str = "start") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": "2026-11-27T10:00:00.000Z",
        "event": {"category": ["process"], "type": [event_type], "code": "1",
                  "provider": "Microsoft-Windows-Sysmon"},
        "process": {"executable": image, "name": image.rsplit("\\", 1)[-1],
                    "parent": {"executable": parent, "name": parent.rsplit("\\", 1)[-1]}},
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1, "event_data": {}},
        "test_id": doc_id,
    }
    user = {k: v for k, v in (("domain", domain), ("name", name)) if v is not None}
    if user:
        doc["user"] = user
    if logon_id is not None:
        doc["winlog"]["event_data"]["LogonId"] = logon_id
    return doc


SEED_EVENTS: dict[str, tuple[dict[str, Any], bool]] = {
    ev_id: (doc, expected)
    for ev_id, doc, expected in [
        ("match_plain", process_start("match_plain"), True),
        ("match_parent_upper", process_start("match_parent_upper", parent=WMIPRVSE.upper()), True),
        ("match_parent_lower", process_start("match_parent_lower", parent=WMIPRVSE.lower()), True),
        ("match_user_author", process_start("match_user_author", domain="CORP", name="AUTHOR"), True),
        ("match_user_missing", process_start("match_user_missing", domain=None, name=None), True),
        ("nm_system_en", process_start("nm_system_en", domain="NT AUTHORITY", name="SYSTEM"), False),
        ("nm_system_fr", process_start("nm_system_fr", domain="AUTORITE NT", name="Système"), False),
        ("nm_system_lower", process_start("nm_system_lower", domain="nt authority", name="system"), False),
        ("nm_logon_3e7", process_start("nm_logon_3e7", logon_id="0x3e7"), False),
        ("nm_logon_3E7_upper", process_start("nm_logon_3E7_upper", logon_id="0X3E7"), False),
        ("nm_logon_missing", process_start("nm_logon_missing", logon_id=None), False),
        ("nm_logon_null_string", process_start("nm_logon_null_string", logon_id="NULL"), False),
        ("nm_child_wmiprvse", process_start("nm_child_wmiprvse", image="C:\\x\\wmiprvse.EXE"), False),
        ("nm_child_werfault", process_start("nm_child_werfault", image="C:\\Windows\\System32\\WERFAULT.exe"), False),
        ("nm_not_start", process_start("nm_not_start", event_type="end"), False),
        ("nm_other_parent", process_start("nm_other_parent", parent="C:\\Windows\\explorer.exe"), False),
        ("nm_parent_suffix", process_start("nm_parent_suffix", parent="C:\\x\\NotWmiPrvSE.exe"), False),
        ("nm_parent_longer", process_start("nm_parent_longer", parent=WMIPRVSE + ".bak"), False),
    ]
}

SEED_EXPECTED_MATCHES = {ev_id for ev_id, (_, expected) in SEED_EVENTS.items() if expected}
