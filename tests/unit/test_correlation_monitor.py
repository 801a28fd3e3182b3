"""opensearch_monitor for correlation rules (es_dsl): a bucket-level monitor in the shape the Alerting API
documents ("Create bucket-level monitor": `monitor_type: bucket_level_monitor`, a `search` input whose
query aggregates, a `bucket_level_trigger` whose condition is `buckets_path` + `parent_bucket_path` +
`script`). What it finds on events is proven live (tests/live/test_correlations_live.py)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sigma.exceptions import SigmaError

from sigma_es_backend.outputs.context import content_hash
from tests.conftest import convert
from tests.unit.test_correlation_kibana import rule
from tests.unit.test_opensearch_monitor import _SCRIPT, _STR

_BUCKET_CONDITION = {"type": "object", "additionalProperties": False,
                     "required": ["buckets_path", "parent_bucket_path", "script"],
                     "properties": {"buckets_path": {"type": "object", "minProperties": 1, "additionalProperties": _STR},
                                    "parent_bucket_path": _STR, "script": _SCRIPT}}
_BUCKET_TRIGGER = {"type": "object", "additionalProperties": False,
                   "required": ["name", "severity", "condition", "actions"],
                   "properties": {"name": _STR, "severity": {"enum": ["1", "2", "3", "4", "5"]},
                                  "actions": {"type": "array"}, "condition": _BUCKET_CONDITION}}
BUCKET_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["type", "monitor_type", "name", "enabled", "schedule", "inputs", "triggers", "ui_metadata"],
    "properties": {
        "type": {"const": "monitor"}, "monitor_type": {"const": "bucket_level_monitor"},
        "name": _STR, "enabled": {"type": "boolean"},
        "schedule": {"type": "object", "additionalProperties": False, "required": ["period"], "properties": {
            "period": {"type": "object", "additionalProperties": False, "required": ["interval", "unit"],
                       "properties": {"interval": {"type": "integer", "minimum": 1}, "unit": {"const": "MINUTES"}}}}},
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["search"], "properties": {
                "search": {"type": "object", "additionalProperties": False, "required": ["indices", "query"],
                           "properties": {"indices": {"type": "array", "minItems": 1, "items": _STR},
                                          "query": {"type": "object", "required": ["size", "query", "aggs"]}}}}}},
        "triggers": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["bucket_level_trigger"],
            "properties": {"bucket_level_trigger": _BUCKET_TRIGGER}}},
        "ui_metadata": {"type": "object"},
    },
}


def bucket_monitor(kind: str, condition: str | None, **options: Any) -> dict[str, Any]:
    from sigma.collection import SigmaCollection

    from sigma_es_backend.backends import backends
    from sigma_es_backend.pipelines import ecs_pipeline

    backend = backends["es_dsl"](processing_pipeline=ecs_pipeline(), **options)
    return json.loads(backend.convert(SigmaCollection.from_yaml(rule(kind, condition)), "opensearch_monitor")[-1])


@pytest.mark.parametrize(("kind", "condition", "paths", "script"), [
    ("event_count", "{gte: 3}", {"events": "_count"}, "params.events > 0 && params.events >= 3"),
    ("value_count", "{lt: 4, field: CommandLine}", {"events": "_count", "values": "values._bucket_count"},
     "params.events > 0 && params.values < 4"),
    ("temporal", None, {"events": "_count", "rule0": "rule0._count", "rule1": "rule1._count"},
     "params.events > 0 && ((params.rule0 > 0 ? 1 : 0) + (params.rule1 > 0 ? 1 : 0)) >= 2"),
])
def test_bucket_level_monitor_has_the_documented_shape(kind: str, condition: str | None, paths: dict[str, str],
                                                       script: str) -> None:
    body = bucket_monitor(kind, condition)
    jsonschema.validate(body, BUCKET_MONITOR_SCHEMA)
    trigger = body["triggers"][0]["bucket_level_trigger"]
    assert trigger["condition"] == {"buckets_path": paths, "parent_bucket_path": "groups",
                                    "script": {"source": script, "lang": "painless"}}
    assert (trigger["name"], trigger["severity"], trigger["actions"]) == ("Recon burst", "2", [])  # level high
    search = body["inputs"][0]["search"]["query"]
    groups = search["aggs"]["groups"]
    # the parent the trigger selects from: a composite aggregation by the group-by fields, paged by Alerting
    assert groups["composite"]["sources"] == [{"process.parent.executable": {"terms": {"field":
                                                                                   "process.parent.executable"}}}]
    # every path the condition reads is the bucket's count or one of the parent's sub-aggregations
    assert {p.split(".")[0] for p in paths.values()} - {"_count"} == set(groups["aggs"])
    # the condition lives in the trigger only: the input returns every group of the window
    assert "bucket_selector" not in json.dumps(search)


def test_the_search_covers_the_timespan_ending_at_the_run() -> None:
    body = bucket_monitor("event_count", "{gte: 3}")
    window = body["inputs"][0]["search"]["query"]["query"]["bool"]["filter"][0]
    assert window == {"range": {"@timestamp": {"gte": "{{period_end}}||-300s", "lt": "{{period_end}}",
                                               "format": "epoch_millis"}}}
    assert body["inputs"][0]["search"]["indices"] == ["logs-windows.sysmon_operational-*", "logs-system.security-*",
                                                      "logs-windows.forwarded-*", "winlogbeat-*"]


@pytest.mark.parametrize(("interval", "expected"), [("10m", 5), ("5m", 5), ("2m", 2), ("1m", 1)])
def test_runs_come_at_most_a_timespan_apart(interval: str, expected: int) -> None:
    body = bucket_monitor("event_count", "{gte: 3}", interval=interval)
    assert body["schedule"] == {"period": {"interval": expected, "unit": "MINUTES"}}


def test_timespan_shorter_than_a_minute_is_refused() -> None:
    with pytest.raises(SigmaError, match="es_dsl: correlation rule 'recon_burst': a correlation timespan of 30s is "
                                         "shorter than a minute"):
        convert(rule("event_count", "{gte: 3}", timespan="30s"), "es_dsl", "opensearch_monitor")


def test_monitor_metadata_comes_from_the_correlation_and_its_rules() -> None:
    body = bucket_monitor("value_count", "{gte: 3, field: CommandLine}")
    meta = body["ui_metadata"]["sigma_es"]
    assert (meta["rule_id"], meta["level"], meta["managed_by"]) == ("0e95725d-7320-415d-80f7-004da920fc11", "high",
                                                                    "sigma-es")
    names = {f["name"] for f in meta["required_fields"]}
    assert {"process.parent.executable", "process.command_line", "process.executable"} <= names
    assert meta.pop("hash") == content_hash(body)


def test_without_group_by_one_constant_bucket() -> None:
    from sigma.collection import SigmaCollection

    from sigma_es_backend.backends import backends
    from sigma_es_backend.pipelines import ecs_pipeline

    text = rule("event_count", "{gte: 10}").replace("    group-by: [ParentImage]\n", "")
    body = json.loads(backends["es_dsl"](processing_pipeline=ecs_pipeline()).convert(
        SigmaCollection.from_yaml(text), "opensearch_monitor")[-1])
    jsonschema.validate(body, BUCKET_MONITOR_SCHEMA)
    sources = body["inputs"][0]["search"]["query"]["aggs"]["groups"]["composite"]["sources"]
    assert sources == [{"all": {"terms": {"script": {"source": "'all'", "lang": "painless"}}}}]


@pytest.mark.parametrize(("kind", "message"), [("temporal_ordered", "temporal_ordered: aggregations cannot check")])
def test_what_aggregations_cannot_express_is_refused_for_monitors_too(kind: str, message: str) -> None:
    with pytest.raises(SigmaError, match=f"es_dsl: correlation rule 'recon_burst': {message}"):
        bucket_monitor(kind, None)
