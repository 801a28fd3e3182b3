"""opensearch_monitor: Alerting monitor bodies in the shape the Alerting API documents.

The request shapes are those of the OpenSearch documentation (documentation-website
`_observing-your-data/alerting/api.md`: "Create query-level monitor", "Document-level monitors"); the
schema below encodes them, closed (`additionalProperties: false`) where Alerting would drop or reject a key.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import backends
from sigma_es_backend.outputs.context import content_hash
from sigma_es_backend.pipelines import ecs_pipeline

_STR = {"type": "string", "minLength": 1}
_SCRIPT = {"type": "object", "additionalProperties": False, "required": ["source", "lang"],
           "properties": {"source": _STR, "lang": {"enum": ["painless"]}}}
_TRIGGER_BODY = {"type": "object", "additionalProperties": False,
                 "required": ["name", "severity", "condition", "actions"],
                 "properties": {"name": _STR, "severity": {"enum": ["1", "2", "3", "4", "5"]},
                                "condition": {"type": "object", "additionalProperties": False,
                                              "required": ["script"], "properties": {"script": _SCRIPT}},
                                "actions": {"type": "array"}}}
MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["type", "monitor_type", "name", "enabled", "schedule", "inputs", "triggers", "ui_metadata"],
    "properties": {
        "type": {"const": "monitor"},
        "monitor_type": {"enum": ["doc_level_monitor", "query_level_monitor"]},
        "name": _STR, "enabled": {"type": "boolean"},
        "schedule": {"type": "object", "additionalProperties": False, "required": ["period"], "properties": {
            "period": {"type": "object", "additionalProperties": False, "required": ["interval", "unit"],
                       "properties": {"interval": {"type": "integer", "minimum": 1},
                                      "unit": {"enum": ["MINUTES", "HOURS", "DAYS"]}}}}},
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["doc_level_input"], "properties": {
                "doc_level_input": {"type": "object", "additionalProperties": False,
                                    "required": ["description", "indices", "queries"], "properties": {
                                        "description": {"type": "string"},
                                        "indices": {"type": "array", "minItems": 1, "items": _STR},
                                        "queries": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
                                            "type": "object", "additionalProperties": False,
                                            "required": ["id", "name", "query", "tags"],
                                            "properties": {"id": _STR, "name": {"type": "string", "pattern": r"^[^\s\[\]{}()]+$"},
                                                           "query": _STR,
                                                           "tags": {"type": "array", "items": {"type": "string", "pattern": r"^[^\s\[\]{}()]+$"}}}}}}}}},
            {"type": "object", "additionalProperties": False, "required": ["search"], "properties": {
                "search": {"type": "object", "additionalProperties": False, "required": ["indices", "query"],
                           "properties": {"indices": {"type": "array", "minItems": 1, "items": _STR},
                                          "query": {"type": "object", "required": ["query"]}}}}},
        ]}},
        "triggers": {"type": "array", "minItems": 1, "items": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["document_level_trigger"],
             "properties": {"document_level_trigger": _TRIGGER_BODY}},
            {"type": "object", "additionalProperties": False, "required": ["query_level_trigger"],
             "properties": {"query_level_trigger": _TRIGGER_BODY}},
        ]}},
        "ui_metadata": {"type": "object"},
    },
}

RULE = """
title: Whoami Execution
id: 0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01
description: Detects whoami.
tags: [attack.discovery, attack.t1033]
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
falsepositives: [Admin scripts]
level: high
"""


def monitor(target: str, rule: str = RULE, **options: Any) -> dict[str, Any]:
    backend = backends[target](processing_pipeline=ecs_pipeline(), **options)
    (text,) = backend.convert(SigmaCollection.from_yaml(rule), "opensearch_monitor")
    return json.loads(text)


@pytest.mark.parametrize(("target", "options"), [("es_lucene", {}), ("es_dsl", {}),
                                                 ("es_lucene", {"monitor_type": "query_level"})])
def test_monitor_has_the_documented_shape(target: str, options: dict[str, str]) -> None:
    jsonschema.validate(monitor(target, **options), MONITOR_SCHEMA)


def test_lucene_rule_is_a_document_level_monitor_alerting_per_matching_document() -> None:
    body = monitor("es_lucene")
    assert body["monitor_type"] == "doc_level_monitor"
    (query,) = body["inputs"][0]["doc_level_input"]["queries"]
    assert query["query"] == ("(event.category:process AND event.type:start AND (event.code:1 OR event.code:4688) AND "
                              "(winlog.channel:Microsoft\\-Windows\\-Sysmon\\/Operational OR winlog.channel:Security)) AND "
                              "process.executable.caseless:*\\\\whoami.exe")
    assert query["id"] == "0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01"
    trigger = body["triggers"][0]["document_level_trigger"]
    assert trigger["condition"]["script"]["source"] == "query[id=0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01]"
    assert trigger["severity"] == "2"  # high
    assert body["schedule"] == {"period": {"interval": 5, "unit": "MINUTES"}}


def test_dsl_rule_is_a_query_level_monitor_bounded_to_its_own_window() -> None:
    body = monitor("es_dsl", interval="10m")
    assert body["monitor_type"] == "query_level_monitor"
    search = body["inputs"][0]["search"]
    window, rule_query = search["query"]["query"]["bool"]["filter"]
    assert window == {"range": {"@timestamp": {"gte": "{{period_end}}||-10m", "lt": "{{period_end}}",
                                               "format": "epoch_millis"}}}
    assert rule_query == json.loads(backends["es_dsl"](processing_pipeline=ecs_pipeline())
                                    .convert(SigmaCollection.from_yaml(RULE), "query")[0])
    assert body["triggers"][0]["query_level_trigger"]["condition"]["script"]["source"] == \
        "ctx.results[0].hits.total.value > 0"
    assert body["schedule"] == {"period": {"interval": 10, "unit": "MINUTES"}}


def test_lucene_monitor_is_built_for_opensearch() -> None:
    # For OpenSearch, ECS wildcard fields are keyword (the bundled template's OpenSearch flavor): query_string
    # can match them, as a keyword term, not through the wildcard type's n-grams.
    rule = RULE.replace("Image|endswith: '\\whoami.exe'", "CommandLine|contains: whoami")
    (query,) = monitor("es_lucene", rule)["inputs"][0]["doc_level_input"]["queries"]
    assert query["query"].endswith("process.command_line:/.*[Ww][Hh][Oo][Aa][Mm][Ii].*/")
    with pytest.raises(Exception, match="runs on OpenSearch"):
        monitor("es_lucene", engine="elasticsearch")


def test_metadata_lives_in_ui_metadata_with_a_content_hash() -> None:
    body = monitor("es_dsl")
    meta = body["ui_metadata"]["sigma_es"]
    assert (meta["managed_by"], meta["rule_id"], meta["level"]) == ("sigma-es", "0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01", "high")
    assert {"name": "process.executable", "type": "keyword", "ecs": True} in meta["required_fields"]
    assert meta["related_integrations"][0] == {"package": "windows", "integration": "sysmon_operational",
                                               "version": ">=1.0.0"}
    assert meta["setup"].startswith("## Setup") and "- Admin scripts" in meta["note"]
    digest = meta.pop("hash")
    assert digest == content_hash(body)


def test_unknown_monitor_type_is_refused() -> None:
    with pytest.raises(Exception, match="monitor_type 'bucket'"):
        monitor("es_lucene", monitor_type="bucket")
