"""The WmiPrvSE seed rule: exact queries per backend, and EQL evaluated on ECS-shaped events."""

from __future__ import annotations

import pytest

from tests.conftest import convert
from tests.eql_eval import eql_hits
from tests.seed_events import SEED_EVENTS, SEED_EXPECTED_MATCHES


def test_lucene_seed_rule(seed_rule_yaml: str) -> None:
    assert convert(seed_rule_yaml, "es_lucene") == [
        "(event.category:process AND event.type:start AND (event.code:1 OR event.code:4688) AND "
        "(winlog.channel:Microsoft\\-Windows\\-Sysmon\\/Operational OR winlog.channel:Security)) AND "
        "(process.parent.executable:/.*\\\\[Ww][Mm][Ii][Pp][Rr][Vv][Ss][Ee]\\.[Ee][Xx][Ee]/ AND "
        "((*:* AND NOT ((winlog.event_data.LogonId:/0[Xx]3[Ee]7/ OR winlog.event_data.LogonId:/[Nn][Uu][Ll][Ll]/) OR "
        "((user.name:/.*[Aa][Uu][Tt][Hh][Oo][Rr][Ii].*/ OR user.domain:/.*[Aa][Uu][Tt][Hh][Oo][Rr][Ii].*/) OR "
        "(user.name:/.*[Aa][Uu][Tt][Oo][Rr][Ii].*/ OR user.domain:/.*[Aa][Uu][Tt][Oo][Rr][Ii].*/)) OR "
        "process.executable.caseless:*\\\\wmiprvse.exe OR process.executable.caseless:*\\\\werfault.exe OR "
        "(*:* AND NOT _exists_:winlog.event_data.LogonId)))))"
    ]


def test_eql_seed_rule_text(seed_rule_yaml: str) -> None:
    (query,) = convert(seed_rule_yaml, "es_eql")
    assert query.startswith('any where event.category == "process" and event.type == "start" and '
                            '(event.code == "1" or event.code == "4688") and '
                            '(winlog.channel == "Microsoft-Windows-Sysmon/Operational" or winlog.channel == "Security") '
                            'and process.parent.executable like~ "*\\\\WmiPrvSe.exe" and not (')
    # Under NOT every comparison is guarded, so events without the field are not dropped.
    assert '(user.domain != null and user.domain like~ "*AUTHORI*")' in query
    assert query.endswith("or winlog.event_data.LogonId == null)")


def test_esql_seed_rule_lowercases_both_sides(seed_rule_yaml: str) -> None:
    (query,) = convert(seed_rule_yaml, "es_esql")
    assert query.startswith("FROM logs-windows.sysmon_operational-*,")
    assert 'TO_LOWER(process.parent.executable) LIKE "*\\\\\\\\wmiprvse.exe"' in query
    assert '(winlog.event_data.LogonId IS NOT NULL AND TO_LOWER(winlog.event_data.LogonId) == "0x3e7")' in query
    assert "OR winlog.event_data.LogonId IS NULL)" in query


@pytest.mark.parametrize("event_id", sorted(SEED_EVENTS))
def test_eql_seed_rule_evaluated(seed_rule_yaml: str, event_id: str) -> None:
    (query,) = convert(seed_rule_yaml, "es_eql")
    doc, expected = SEED_EVENTS[event_id]
    assert (eql_hits(query, {event_id: doc}) == {event_id}) is expected


def test_eql_seed_rule_all_events(seed_rule_yaml: str) -> None:
    (query,) = convert(seed_rule_yaml, "es_eql")
    assert eql_hits(query, {k: doc for k, (doc, _) in SEED_EVENTS.items()}) == SEED_EXPECTED_MATCHES
