"""es_dsl correlation searches on OpenSearch, on events with explicit timestamps around a fixed END
(no wall clock: a loaded machine cannot move an event across a window boundary).

Events and expectations: tests/correlation_events.py (es_esql is evaluated on the same ones). Two forms
of the same aggregation are run:
- the `default` body (window `now-<timespan>`), evaluated as of END: its `now` anchor is replaced by END
  in the date math (`END||-300s`), nothing else changes;
- the `opensearch_monitor` bucket-level monitor: its search input rendered as Alerting renders it
  (`{{period_end}}` = END in epoch milliseconds) and its trigger's condition applied the way Alerting's
  bucket selector applies it, a `bucket_selector` on the buckets of `parent_bucket_path`. The Alerting
  plugin is not installable on the reference machine, so this is the proof that the monitor fires for
  exactly the groups whose count / distinct count / rule set satisfies the condition in the window.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from opensearchpy import OpenSearch

from tests.conftest import convert
from tests.correlation_events import CASES, END, END_MS, EVENTS, case_id, process
from tests.unit.test_correlation_kibana import rule


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


@pytest.mark.parametrize(("kind", "condition", "rules", "expected"), CASES, ids=[case_id(c) for c in CASES])
def test_groups_satisfying_the_condition(groups, kind: str, condition: str | None, rules: str,
                                         expected: set[str]) -> None:
    assert groups(corr(kind, condition, rules=rules)) == expected


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
