"""es_dsl correlation bodies on OpenSearch: exactly the groups whose count / distinct count / rule set
satisfies the condition inside `now-<timespan>` come back (boundary cases: exactly N, N-1, an event just
outside the window, another rule's events, events without a group-by value, two groups)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opensearchpy import OpenSearch

from tests.conftest import convert
from tests.unit.test_correlations import correlation


def at(seconds_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def process(image: str, parent: str | None, seconds_ago: int, directory: str = "x") -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": at(seconds_ago), "event": {"category": ["process"], "type": ["start"], "code": "1"},
                           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
                           "process": {"executable": f"C:\\Windows\\System32\\{image}", "working_directory": directory}}
    if parent is not None:
        doc["process"]["parent"] = {"executable": parent}
    return doc


# The window is 5 minutes; "outside" events are 100 s beyond it, "inside" ones well within it
# (inside events are at most 90 s old: a slow run must not move one across the boundary).
EVENTS: dict[str, dict[str, Any]] = {
    # x: exactly 3 whoami, 3 distinct working directories (one repeated)
    "x1": process("whoami.exe", "x", 30, "a"), "x2": process("whoami.exe", "x", 60, "b"),
    "x3": process("whoami.exe", "x", 90, "c"), "x4-net": process("net.exe", "x", 60, "c"),
    # y: 2 whoami (N-1), 2 distinct working directories; no net
    "y1": process("whoami.exe", "y", 30, "a"), "y2": process("whoami.exe", "y", 90, "b"),
    # z: 2 whoami inside and 1 just outside (3 distinct working directories in all, 2 inside); net outside
    "z1": process("whoami.exe", "z", 30, "a"), "z2": process("whoami.exe", "z", 60, "b"),
    "z3-out": process("whoami.exe", "z", 400, "c"), "z4-net-out": process("net.exe", "z", 420, "d"),
    # w: 3 net only
    "w1": process("net.exe", "w", 30), "w2": process("net.exe", "w", 40), "w3": process("net.exe", "w", 50),
    # no parent: 3 whoami and a net, never a group
    "n1": process("whoami.exe", None, 30, "a"), "n2": process("whoami.exe", None, 40, "b"),
    "n3": process("whoami.exe", None, 50, "c"), "n4": process("net.exe", None, 50, "c"),
}


@pytest.fixture(scope="module")
def correlation_index(opensearch: OpenSearch, ecs_index_template_body: dict[str, Any], live_index_name):
    name = live_index_name("correlation")
    opensearch.indices.create(index=name, body=ecs_index_template_body)
    try:
        for doc_id, doc in EVENTS.items():
            opensearch.index(index=name, id=doc_id, body=doc)
        opensearch.indices.refresh(index=name)
        yield name
    finally:
        opensearch.indices.delete(index=name, ignore_unavailable=True)


def groups(client: OpenSearch, index: str, rule_yaml: str) -> set[Any]:
    body = json.loads(convert(rule_yaml, "es_dsl")[-1])
    buckets = client.search(index=index, body=body)["aggregations"]["groups"]["buckets"]
    if isinstance(buckets, dict):  # `filters` (no group-by): one named bucket
        return set(buckets)
    return {bucket["key"]["process.parent.executable"] for bucket in buckets}


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 3}", {"x"}), ("{gt: 2}", {"x"}), ("{gt: 3}", set()), ("{eq: 2}", {"y", "z"}),
    ("{lt: 3}", {"y", "z"}), ("{lte: 3}", {"x", "y", "z"}), ("{lt: 2}", set()),
])
def test_event_count(opensearch, correlation_index, condition: str, expected: set[str]) -> None:
    assert groups(opensearch, correlation_index, correlation("event_count", condition, rules="[whoami]")) == expected


def test_event_count_of_two_rules_counts_either(opensearch, correlation_index) -> None:
    rule = correlation("event_count", "{gte: 3}")
    assert groups(opensearch, correlation_index, rule) == {"x", "w"}  # x: 3 whoami + 1 net; w: 3 net


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 3, field: CurrentDirectory}", {"x"}), ("{eq: 3, field: CurrentDirectory}", {"x"}),
    ("{lt: 3, field: CurrentDirectory}", {"y", "z"}), ("{eq: 2, field: CurrentDirectory}", {"y", "z"}),
    ("{gt: 3, field: CurrentDirectory}", set()), ("{lte: 1, field: CurrentDirectory}", set()),
])
def test_value_count(opensearch, correlation_index, condition: str, expected: set[str]) -> None:
    assert groups(opensearch, correlation_index, correlation("value_count", condition, rules="[whoami]")) == expected


def test_temporal_needs_every_rule_inside_the_window(opensearch, correlation_index) -> None:
    assert groups(opensearch, correlation_index, correlation("temporal", None)) == {"x"}


def test_temporal_with_a_lower_condition(opensearch, correlation_index) -> None:
    assert groups(opensearch, correlation_index, correlation("temporal", "{gte: 1}")) == {"x", "y", "z", "w"}


def test_without_group_by_one_bucket_for_all_events(opensearch, correlation_index) -> None:
    # whoami inside the window: x 3, y 2, z 2, no parent 3 → 10
    def rule(condition: str) -> str:
        return correlation("event_count", condition, rules="[whoami]").replace("    group-by: [ParentImage]\n", "")
    assert groups(opensearch, correlation_index, rule("{eq: 10}")) == {"all"}
    assert groups(opensearch, correlation_index, rule("{gt: 10}")) == set()
