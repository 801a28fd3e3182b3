"""es_esql correlation queries evaluated (tests/esql_eval.py: WHERE, EVAL, STATS … BY, arithmetic,
`NOW()` fixed at END) on the same events and with the same expected groups as the live es_dsl tests
(tests/correlation_events.py): both languages must find exactly the same groups."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import convert
from tests.correlation_events import CASES, END, EVENTS, case_id, process
from tests.esql_eval import esql_rows
from tests.unit.test_correlation_kibana import rule


def esql_groups(rule_yaml: str, events: dict[str, dict[str, Any]] = EVENTS) -> set[Any]:
    rows = esql_rows(convert(rule_yaml, "es_esql")[-1], events, END)
    return {row.get("process.parent.executable", "all") for row in rows}


@pytest.mark.parametrize(("kind", "condition", "rules", "expected"), CASES, ids=[case_id(c) for c in CASES])
def test_groups_satisfying_the_condition(kind: str, condition: str | None, rules: str, expected: set[str]) -> None:
    assert esql_groups(rule(kind, condition, rules=rules)) == expected


def test_without_group_by_one_row_for_all_events() -> None:
    def no_group(condition: str) -> str:
        return rule("event_count", condition, rules="[whoami]").replace("    group-by: [ParentImage]\n", "")
    assert esql_groups(no_group("{eq: 12}")) == {"all"}
    assert esql_groups(no_group("{gt: 12}")) == set()


def test_events_without_the_counted_field_take_no_part() -> None:
    events = {i: process("whoami.exe", i[0], 10) for i in ("u1", "u2", "v1", "v2")}
    for doc_id in ("u1", "u2"):
        del events[doc_id]["process"]["working_directory"]
    assert esql_groups(rule("value_count", "{lt: 3, field: CurrentDirectory}", rules="[whoami]"), events) == {"v"}


ALIASED = "\n    aliases:\n        parent:\n            whoami: ParentImage\n            net: CurrentDirectory\n"


def aliased(kind: str, condition: str | None) -> str:
    return rule(kind, condition, group_by="[parent]") + ALIASED[1:]


def test_alias_groups_each_event_by_its_own_rule_field() -> None:
    events = {
        # k: two whoami whose parent is k, a net running in directory k → 3 events in group k
        "k1": process("whoami.exe", "k", 10), "k2": process("whoami.exe", "k", 20),
        "k3": process("net.exe", "other", 30, directory="k"),
        # d: a whoami whose parent is d and a net in directory d; the net's parent (k) does not count for k
        "d1": process("whoami.exe", "d", 10), "d2": process("net.exe", "k", 20, directory="d"),
        # m / n: one rule each
        "m1": process("whoami.exe", "m", 10), "n1": process("net.exe", "q", 10, directory="n"),
    }
    query = convert(aliased("event_count", "{gte: 3}"), "es_esql")[-1]
    assert "| EVAL parent = MV_DEDUPE(MV_APPEND(CASE(" in query and "| MV_EXPAND parent | WHERE parent IS NOT NULL" \
        in query
    rows = esql_rows(query, events, END)
    assert {row["parent"]: row["event_count"] for row in rows} == {"k": 3}
    temporal = esql_rows(convert(aliased("temporal", None), "es_esql")[-1], events, END)
    assert {row["parent"] for row in temporal} == {"k", "d"}


def test_alias_over_fields_of_different_types_is_refused() -> None:
    from sigma.exceptions import SigmaError

    text = aliased("event_count", "{gte: 3}").replace("net: CurrentDirectory", "net: ProcessId")
    with pytest.raises(SigmaError, match="es_esql: correlation rule 'recon_burst': alias 'parent' joins fields of "
                                         r"different types \(keyword, long\)"):
        convert(text, "es_esql")
