"""Correlation rules through a real Kibana detection engine and Elasticsearch (docker-compose.yml), when
SIGMA_ES_KIBANA_URL and SIGMA_ES_ELASTICSEARCH_URL are set (credentials as in test_kibana_kql_live.py).
No Kibana runs on the reference machine: there these tests are skipped; the Kibana rule bodies are
schema-checked in tests/unit/test_correlation_kibana.py and the same counts are proven live on OpenSearch
(tests/live/test_correlations_live.py) and with the `eql` package (tests/unit/test_correlations.py).

Each rule is previewed once (`rules/preview`, one execution ending now) on events with explicit
timestamps: group x has exactly 3 whoami events (3 process ids), y has 2 (N-1), z has 2 inside the 5 minute window and
one 400 s before (outside), events without a parent take no part. The alerts name exactly group x.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from sigma_es_backend.events.templates import ecs_index_body
from sigma_es_backend.pipelines import default_mapping_set
from tests.live.test_kibana_kql_live import ELASTICSEARCH, KIBANA, _json
from tests.unit.test_correlation_kibana import kibana, rule

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (KIBANA and ELASTICSEARCH), reason="SIGMA_ES_KIBANA_URL and SIGMA_ES_ELASTICSEARCH_URL not set")]

# seconds before the preview's end; inside events at most 90 s old so a slow run keeps them inside
EVENTS = {"x1": ("x", 30), "x2": ("x", 60), "x3": ("x", 90), "y1": ("y", 30), "y2": ("y", 90),
          "z1": ("z", 30), "z2": ("z", 60), "z3-out": ("z", 400), "n1": (None, 30), "n2": (None, 40),
          "n3": (None, 50)}


def _event(parent: str | None, timestamp: dt.datetime, pid: int) -> dict[str, Any]:
    process: dict[str, Any] = {"executable": "C:\\Windows\\System32\\whoami.exe", "pid": pid}
    if parent is not None:
        process["parent"] = {"executable": parent}
    return {"@timestamp": timestamp.isoformat().replace("+00:00", "Z"), "process": process,
            "event": {"category": ["process"], "type": ["start"], "code": "1"},
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"}}


def _group(source: dict[str, Any]) -> Any:
    terms = source.get("kibana.alert.threshold_result", {}).get("terms") or source.get(
        "kibana", {}).get("alert", {}).get("threshold_result", {}).get("terms")
    if terms:
        return terms[0]["value"]
    if "process.parent.executable" in source:
        return source["process.parent.executable"]
    return source.get("process", {}).get("parent", {}).get("executable")


@pytest.fixture(scope="module")
def index(shared_dir) -> Any:
    name = f"sigma-es-test-corr-{uuid.uuid4().hex[:12]}"
    body = ecs_index_body(shared_dir / "ecs", default_mapping_set().field_capabilities, flavor="elasticsearch")
    _json("PUT", f"{ELASTICSEARCH}/{name}", body)
    now = dt.datetime.now(dt.UTC)
    try:
        for doc_id, (parent, age) in EVENTS.items():
            _json("PUT", f"{ELASTICSEARCH}/{name}/_doc/{doc_id}", _event(parent, now - dt.timedelta(seconds=age),
                                                                      int(doc_id[1])))
        _json("POST", f"{ELASTICSEARCH}/{name}/_refresh")
        yield name
    finally:
        _json("DELETE", f"{ELASTICSEARCH}/{name}")


def _preview_groups(body: dict[str, Any], index: str) -> set[Any]:
    preview_rule = {k: body[k] for k in ("type", "language", "query", "name", "description", "risk_score",
                                         "severity", "from", "interval", "threshold") if k in body}
    if body["type"] == "esql":  # FROM names the index in the query
        preview_rule["query"] = preview_rule["query"].replace(body["query"].split(" | ")[0], f"FROM {index}", 1)
    else:
        preview_rule["index"] = [index]
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    preview = _json("POST", f"{KIBANA}/api/detection_engine/rules/preview", {
        **preview_rule, "invocationCount": 1, "timeframeEnd": end.isoformat().replace("+00:00", "Z")})
    assert not preview.get("isAborted"), preview
    alerts_index = ".preview.alerts-security.alerts-default"
    groups: set[Any] = set()
    for _ in range(20):  # the preview writes its alerts asynchronously
        _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_refresh")
        found = _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_search", {
            "size": 1000, "query": {"term": {"kibana.alert.rule.uuid": preview["previewId"]}}})
        groups = {_group(hit["_source"]) for hit in found["hits"]["hits"]}
        if groups:
            time.sleep(2)  # let the remaining alerts of the run land, then read once more
            _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_refresh")
            found = _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_search", {
                "size": 1000, "query": {"term": {"kibana.alert.rule.uuid": preview["previewId"]}}})
            return {_group(hit["_source"]) for hit in found["hits"]["hits"]}
        time.sleep(1)
    return groups


@pytest.mark.parametrize(("target", "kind", "condition"), [
    ("es_lucene", "event_count", "{gte: 3}"), ("es_kql", "event_count", "{gt: 2}"),
    ("es_esql", "event_count", "{gte: 3}"), ("es_esql", "value_count", "{gte: 3, field: ProcessId}"),
    ("es_eql", "event_count", "{gte: 3}"),
])
def test_kibana_alerts_exactly_the_group_meeting_the_condition(index: str, target: str, kind: str,
                                                                condition: str) -> None:
    body = kibana(rule(kind, condition, rules="[whoami]"), target)
    assert _preview_groups(body, index) == {"x"}
