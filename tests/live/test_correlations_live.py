"""es_dsl correlation searches on OpenSearch, on events with explicit timestamps around a fixed END
(no wall clock: a loaded machine cannot move an event across a window boundary).

Two forms of the same aggregation are run:
- the `default` body (window `now-<timespan>`), evaluated as of END: its `now` anchor is replaced by END
  in the date math (`END||-300s`), nothing else changes;
- the `opensearch_monitor` bucket-level monitor: its search input rendered as Alerting renders it
  (`{{period_end}}` = END in epoch milliseconds) and its trigger's condition applied the way Alerting's
  bucket selector applies it, a `bucket_selector` on the buckets of `parent_bucket_path`. The Alerting
  plugin is not installable on the reference machine, so this is the proof that the monitor fires for
  exactly the groups whose count / distinct count / rule set satisfies the condition in the window.
Boundary cases: exactly N, N-1, an event exactly at the window start (inside), one 1 ms and one 1 s
before it (outside), another rule's events, events without a group-by value, several groups.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import pytest
from opensearchpy import OpenSearch

from tests.conftest import convert
from tests.unit.test_correlation_kibana import rule

END = datetime(2026, 1, 1, tzinfo=UTC)
# pySigma 1.5 reads a condition's number with int(): 1.5 becomes 1 before any backend sees it
PYSIGMA_2_ONLY = pytest.mark.skipif(int(version("pysigma").split(".")[0]) < 2,
                                    reason="pySigma 1.5 truncates decimal correlation conditions")
END_MS = int(END.timestamp() * 1000)


def process(image: str, parent: str | None, seconds_before_end: float, directory: str = "x") -> dict[str, Any]:
    timestamp = (END - timedelta(seconds=seconds_before_end)).isoformat(timespec="milliseconds")
    doc: dict[str, Any] = {"@timestamp": timestamp, "event": {"category": ["process"], "type": ["start"], "code": "1"},
                           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
                           "process": {"executable": f"C:\\Windows\\System32\\{image}", "working_directory": directory}}
    if parent is not None:
        doc["process"]["parent"] = {"executable": parent}
    return doc


# The window is the 5 minutes before END.
EVENTS: dict[str, dict[str, Any]] = {
    # x: exactly 3 whoami, 3 distinct working directories, and a net
    "x1": process("whoami.exe", "x", 30, "a"), "x2": process("whoami.exe", "x", 60, "b"),
    "x3": process("whoami.exe", "x", 90, "c"), "x4-net": process("net.exe", "x", 60, "c"),
    # y: 2 whoami (N-1), 2 distinct working directories; no net
    "y1": process("whoami.exe", "y", 30, "a"), "y2": process("whoami.exe", "y", 90, "b"),
    # z: 2 whoami inside and 1 a second outside (3 directories in all, 2 inside); its net outside
    "z1": process("whoami.exe", "z", 30, "a"), "z2": process("whoami.exe", "z", 60, "b"),
    "z3-out": process("whoami.exe", "z", 301, "c"), "z4-net-out": process("net.exe", "z", 420, "d"),
    # e: one whoami exactly at the window start (inside: gte), one 1 ms earlier (outside), one inside
    "e1-edge": process("whoami.exe", "e", 300, "a"), "e2-out": process("whoami.exe", "e", 300.001, "b"),
    "e3": process("whoami.exe", "e", 10, "c"),
    # w: 3 net only
    "w1": process("net.exe", "w", 30), "w2": process("net.exe", "w", 40), "w3": process("net.exe", "w", 50),
    # no parent: 3 whoami and a net, never a group
    "n1": process("whoami.exe", None, 30, "a"), "n2": process("whoami.exe", None, 40, "b"),
    "n3": process("whoami.exe", None, 50, "c"), "n4": process("net.exe", None, 50, "c"),
}


# process.pid: the digit in the event id (x: 1, 2, 3; y: 1, 2; z inside 1, 2; e inside 1, 3)
for _doc_id, _doc in EVENTS.items():
    _doc["process"]["pid"] = int(_doc_id[1])


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


def _keys(response: dict[str, Any]) -> set[Any]:
    buckets = response["aggregations"]["groups"]["buckets"]
    return {bucket["key"].get("process.parent.executable", bucket["key"].get("all")) for bucket in buckets}


def default_groups(client: OpenSearch, index: str, rule_yaml: str) -> set[Any]:
    """The default body, evaluated as of END (its `now` anchor replaced by END)."""
    body = json.loads(convert(rule_yaml, "es_dsl")[-1])
    window = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert set(window) == {"gte"} and window["gte"].startswith("now-")
    window["gte"] = window["gte"].replace("now-", END.isoformat() + "||-")
    return _keys(client.search(index=index, body=body))


def monitor_search(monitor: dict[str, Any], period_end_ms: int) -> dict[str, Any]:
    """The bucket-level monitor's search as Alerting runs it: mustache `{{period_end}}` rendered, the
    trigger condition as a bucket_selector on the buckets of its parent aggregation."""
    (monitor_input,) = monitor["inputs"]
    body = json.loads(json.dumps(monitor_input["search"]["query"]).replace("{{period_end}}", str(period_end_ms)))
    (trigger,) = monitor["triggers"]
    condition = trigger["bucket_level_trigger"]["condition"]
    parent = body["aggs"][condition["parent_bucket_path"]]
    parent["aggs"]["trigger"] = {"bucket_selector": {"buckets_path": condition["buckets_path"],
                                                     "script": copy.deepcopy(condition["script"])}}
    return body


def monitor_groups(client: OpenSearch, index: str, rule_yaml: str, period_end_ms: int = END_MS) -> set[Any]:
    monitor = json.loads(convert(rule_yaml, "es_dsl", "opensearch_monitor")[-1])
    assert monitor["monitor_type"] == "bucket_level_monitor"
    return _keys(client.search(index=index, body=monitor_search(monitor, period_end_ms)))


@pytest.fixture(params=["default", "monitor"])
def groups(request, opensearch: OpenSearch, correlation_index: str):
    run = default_groups if request.param == "default" else monitor_groups

    def evaluate(rule_yaml: str) -> set[Any]:
        # the monitor format outputs every rule: the referenced ones need ids (rule() adds them)
        return run(opensearch, correlation_index, rule_yaml)

    return evaluate


def corr(kind: str, condition: str | None, rules: str = "[whoami, net]") -> str:
    return rule(kind, condition, rules=rules)


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 3}", {"x"}), ("{gt: 2}", {"x"}), ("{gt: 3}", set()), ("{eq: 2}", {"y", "z", "e"}),
    ("{lt: 3}", {"y", "z", "e"}), ("{lte: 3}", {"x", "y", "z", "e"}), ("{lt: 2}", set()),
])
def test_event_count(groups, condition: str, expected: set[str]) -> None:
    assert groups(corr("event_count", condition, rules="[whoami]")) == expected


def test_event_count_of_two_rules_counts_either(groups) -> None:
    assert groups(corr("event_count", "{gte: 3}")) == {"x", "w"}  # x: 3 whoami + 1 net; w: 3 net


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 3, field: CurrentDirectory}", {"x"}), ("{eq: 3, field: CurrentDirectory}", {"x"}),
    ("{lt: 3, field: CurrentDirectory}", {"y", "z", "e"}), ("{eq: 2, field: CurrentDirectory}", {"y", "z", "e"}),
    ("{gt: 3, field: CurrentDirectory}", set()), ("{lte: 1, field: CurrentDirectory}", set()),
])
def test_value_count(groups, condition: str, expected: set[str]) -> None:
    assert groups(corr("value_count", condition, rules="[whoami]")) == expected


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 6, field: ProcessId}", {"x"}), ("{gte: 4, field: ProcessId}", {"x", "e"}),
    ("{eq: 3, field: ProcessId}", {"y", "z"}), ("{lt: 4, field: ProcessId}", {"y", "z"}),
    ("{gt: 6, field: ProcessId}", set()),
])
def test_value_sum(groups, condition: str, expected: set[str]) -> None:
    assert groups(corr("value_sum", condition, rules="[whoami]")) == expected  # z's pid 3 is outside


@pytest.mark.parametrize(("condition", "expected"), [
    ("{gte: 2, field: ProcessId}", {"x", "e"}), ("{eq: 2, field: ProcessId}", {"x", "e"}),
    ("{lt: 2, field: ProcessId}", {"y", "z"}), ("{gt: 2, field: ProcessId}", set()),
    pytest.param("{eq: 1.5, field: ProcessId}", {"y", "z"}, marks=PYSIGMA_2_ONLY),
    pytest.param("{gt: 1.5, field: ProcessId}", {"x", "e"}, marks=PYSIGMA_2_ONLY),
])
def test_value_avg(groups, condition: str, expected: set[str]) -> None:
    assert groups(corr("value_avg", condition, rules="[whoami]")) == expected


def test_temporal_needs_every_rule_inside_the_window(groups) -> None:
    assert groups(corr("temporal", None)) == {"x"}


def test_temporal_with_a_lower_condition(groups) -> None:
    assert groups(corr("temporal", "{gte: 1}")) == {"x", "y", "z", "e", "w"}


def test_without_group_by_one_bucket_for_all_events(groups) -> None:
    # whoami inside the window: x 3, y 2, z 2, e 2, no parent 3 → 12
    def no_group(condition: str) -> str:
        return corr("event_count", condition, rules="[whoami]").replace("    group-by: [ParentImage]\n", "")
    assert groups(no_group("{eq: 12}")) == {"all"}
    assert groups(no_group("{gt: 12}")) == set()


def test_monitor_window_ends_before_period_end(opensearch: OpenSearch, ecs_index) -> None:
    """[period_end - timespan, period_end): an event at period_end belongs to the next run."""
    index = ecs_index({"a": process("whoami.exe", "p", 0), "b": process("whoami.exe", "p", 0.001),
                       "c": process("whoami.exe", "p", 300)})
    rule_yaml = corr("event_count", "{gte: 2}", rules="[whoami]")
    assert monitor_groups(opensearch, index, rule_yaml) == {"p"}  # b and c
    assert monitor_groups(opensearch, index, corr("event_count", "{gte: 3}", rules="[whoami]")) == set()
    # one millisecond later a is inside and c (now 300.001 s old) outside
    assert monitor_groups(opensearch, index, rule_yaml, END_MS + 1) == {"p"}
    assert monitor_groups(opensearch, index, corr("event_count", "{eq: 2}", rules="[whoami]"), END_MS + 1) == {"p"}


@pytest.mark.parametrize("form", ["default", "monitor"])
def test_events_without_the_counted_field_take_no_part(opensearch: OpenSearch, ecs_index, form: str) -> None:
    """u: two events, neither with a working directory → no group for value_count (0 values are not
    "fewer than 3"), as es_esql (`WHERE field IS NOT NULL`); v: one value → 1 < 3."""
    def bare(doc_id: str, parent: str) -> dict[str, Any]:
        doc = process("whoami.exe", parent, 10)
        if doc_id.startswith("u"):
            del doc["process"]["working_directory"]
        return doc
    index = ecs_index({i: bare(i, i[0]) for i in ("u1", "u2", "v1", "v2")})
    run = default_groups if form == "default" else monitor_groups
    assert run(opensearch, index, corr("value_count", "{lt: 3, field: CurrentDirectory}", rules="[whoami]")) == {"v"}
