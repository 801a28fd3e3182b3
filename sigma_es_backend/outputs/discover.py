"""Kibana Discover saved objects for a KQL query: a data view on the data source's index patterns and a
saved search using it, as Kibana's saved-objects export writes them (NDJSON, one object per line).

Ids are deterministic (UUID5), so re-importing replaces instead of duplicating, and every rule of one
data source shares one data view.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sigma.rule import SigmaRule

_NAMESPACE = uuid.UUID("6f1b0c8e-6c55-4a8e-9b7b-3c1d2e5f7a90")  # sigma-es saved objects
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def data_view_id(index_patterns: tuple[str, ...]) -> str:
    return str(uuid.uuid5(_NAMESPACE, "data-view:" + ",".join(index_patterns)))


def discover_saved_objects(rule: SigmaRule, query: str, index_patterns: tuple[str, ...]) -> list[dict[str, Any]]:
    """[data view, saved search] for one converted rule."""
    view_id = data_view_id(index_patterns)
    title = ",".join(index_patterns)
    data_view = {
        "type": "index-pattern", "id": view_id, "references": [],
        "attributes": {"title": title, "name": f"sigma-es: {title}", "timeFieldName": "@timestamp"},
    }
    search_source = {"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF}
    rule_key = str(rule.id) if rule.id else rule.title
    search = {
        "type": "search", "id": str(uuid.uuid5(_NAMESPACE, "search:" + rule_key)),
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": view_id}],
        "attributes": {
            "title": f"Sigma: {rule.title}",
            "description": rule.description or "",
            "columns": [], "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search_source)},
        },
    }
    return [data_view, search]


def unique_ndjson(objects: list[dict[str, Any]]) -> str:
    """NDJSON of the objects, each (type, id) once (rules of one data source share its data view)."""
    seen: set[tuple[str, str]] = set()
    lines = []
    for obj in objects:
        key = (obj["type"], obj["id"])
        if key not in seen:
            seen.add(key)
            lines.append(json.dumps(obj, sort_keys=True))
    return "\n".join(lines)
