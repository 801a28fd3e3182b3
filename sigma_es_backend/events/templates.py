"""Index mappings with production field types: ECS component templates + integration additions.

The ECS composable templates (elastic/ecs generated/elasticsearch/composable) describe Elasticsearch;
their merge is bundled in the package (`ecs_mappings.json`, written by scripts/build_index_template.py
from ../shared/ecs, checked against a fresh build by the unit tests), so no ECS checkout is needed.
For OpenSearch the few Elasticsearch-only types are replaced by their OpenSearch counterparts. The
windows integration's additions are layered on top: lowercase-normalized `.caseless` subfields where
the mapping files declare them, and `winlog.event_data.*` as keyword.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sigma_es_backend.backends.common import FieldCapabilities

# scaled_float lives in OpenSearch's mapper-extras module, which the local node does not load; a double
# answers the same term and range queries (only the stored precision differs).
# wildcard → keyword: OpenSearch's wildcard field type answers query_string wildcard/regexp terms from its
# n-grams and misses events (checked on 2.19: `cl:*Roaming*` finds nothing), and its wildcard query misses
# an escaped backslash before `*`/`?`; a keyword field answers every query exactly
# (tests/live/test_wildcard_field_live.py). With `-O engine=opensearch` the backends read fields declared
# `wildcard` as keyword to match (backends/common.py field_capabilities; README).
OPENSEARCH_TYPE_REPLACEMENTS = {"constant_keyword": "keyword", "flattened": "flat_object", "scaled_float": "double",
                                "wildcard": "keyword"}
# Mapping parameters Elasticsearch has and OpenSearch rejects; none changes how a query matches.
ELASTICSEARCH_ONLY_PARAMETERS = ("synthetic_source_keep", "time_series_dimension", "time_series_metric")
CASELESS_NORMALIZER = "sigma_es_lowercase"


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _adapt_for_opensearch(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and node["type"] in OPENSEARCH_TYPE_REPLACEMENTS:
            replacement = OPENSEARCH_TYPE_REPLACEMENTS[node["type"]]
            dropped = ("ignore_above", "value", "fields") if replacement == "flat_object" else ("value", "scaling_factor")
            for key in dropped:
                node.pop(key, None)
            node["type"] = replacement
        if isinstance(node.get("type"), str):
            for parameter in ELASTICSEARCH_ONLY_PARAMETERS:
                node.pop(parameter, None)
        for value in node.values():
            _adapt_for_opensearch(value)
    elif isinstance(node, list):
        for value in node:
            _adapt_for_opensearch(value)


def _property(properties: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    parts = dotted.split(".")
    node: dict[str, Any] | None = {"properties": properties}
    for part in parts:
        if node is None:
            return None
        node = node.get("properties", {}).get(part)
    return node


BUNDLED_ECS_MAPPINGS = Path(__file__).with_name("ecs_mappings.json")

# What the windows/system integrations add to ECS (their fields/*.yml): winlog.* (keyword unless
# numeric) and PowerShell's script block text, a `text` field with its own analyzer.
INTEGRATION_PROPERTIES: dict[str, Any] = {
    "winlog": {"properties": {
        **{name: {"type": "keyword", "ignore_above": 1024} for name in (
            "api", "activity_id", "computer_name", "event_id", "keywords", "channel", "record_id",
            "related_activity_id", "opcode", "provider_guid", "provider_name", "task")},
        "version": {"type": "long"},
        "process": {"properties": {"pid": {"type": "long"}, "thread": {"properties": {"id": {"type": "long"}}}}},
        "user": {"properties": {name: {"type": "keyword", "ignore_above": 1024}
                                for name in ("identifier", "name", "domain", "type")}},
        "logon": {"properties": {"id": {"type": "keyword", "ignore_above": 1024},
                                 "type": {"type": "keyword", "ignore_above": 1024}}},
        # object_type keyword: every EventData value is a case-sensitive keyword
        "event_data": {"type": "object"},
        "user_data": {"type": "object"},
    }},
    "powershell": {"properties": {"file": {"properties": {
        "script_block_text": {"type": "text"},
        "script_block_id": {"type": "keyword", "ignore_above": 1024}}}}},
}


def merged_ecs_mappings(ecs_dir: Path) -> dict[str, Any]:
    """elastic/ecs composable template + all its component templates, merged (Elasticsearch types)."""
    component_dir = ecs_dir / "generated" / "elasticsearch" / "composable" / "component"
    template = json.loads((ecs_dir / "generated/elasticsearch/composable/template.json").read_text())
    mappings: dict[str, Any] = copy.deepcopy(template["template"]["mappings"])
    mappings.setdefault("properties", {})
    for path in sorted(component_dir.glob("*.json")):
        _merge(mappings, json.loads(path.read_text())["template"]["mappings"])
    mappings["_meta"] = {**mappings.get("_meta", {}), "ecs_version": template["_meta"]["ecs_version"]}
    return mappings


def bundled_ecs_mappings() -> dict[str, Any]:
    """The merged ECS mappings shipped in the package (scripts/build_index_template.py writes them)."""
    return json.loads(BUNDLED_ECS_MAPPINGS.read_text(encoding="utf-8"))


def ecs_index_body(ecs_dir: Path | None = None, capabilities: dict[str, FieldCapabilities] | None = None,
                   flavor: str = "opensearch") -> dict[str, Any]:
    """Settings + mappings for a test index holding ECS documents as the integrations write them.

    `ecs_dir` None uses the mappings bundled in the package; `capabilities` None the default mapping set's.
    """
    if capabilities is None:
        from sigma_es_backend.pipelines import default_mapping_set

        capabilities = default_mapping_set().field_capabilities
    mappings = merged_ecs_mappings(ecs_dir) if ecs_dir is not None else bundled_ecs_mappings()
    _merge(mappings["properties"], INTEGRATION_PROPERTIES)
    if flavor == "opensearch":
        _adapt_for_opensearch(mappings)
    # Integration additions: every unmapped string (winlog.event_data.* above all) is a keyword.
    mappings["dynamic_templates"] = [
        {"strings_as_keyword": {"match_mapping_type": "string",
                                "mapping": {"type": "keyword", "ignore_above": 1024}}},
    ]
    for field, caps in capabilities.items():
        if caps.caseless:
            prop = _property(mappings["properties"], field)
            if prop is not None:
                sub = caps.caseless.removeprefix(field + ".")
                prop.setdefault("fields", {})[sub] = {"type": "keyword", "normalizer": CASELESS_NORMALIZER,
                                                      "ignore_above": 1024}
    settings = {
        "index": {"number_of_shards": 1, "number_of_replicas": 0,
                  "mapping": {"total_fields": {"limit": 5000}}},
        "analysis": {"normalizer": {CASELESS_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}},
    }
    return {"settings": settings, "mappings": mappings}
