"""What the harness asks a cluster before testing on it: its engine and its query limits."""

from __future__ import annotations

from opensearchpy import OpenSearch
from opensearchpy.exceptions import OpenSearchException

# Dynamic OpenSearch cluster settings that bound a query, by the backend option that declares each.
QUERY_LIMIT_SETTINGS = {
    "max_query_string_length": "search.query.max_query_string_length",
    "max_clause_count": "indices.query.bool.max_clause_count",
}


def query_limits(client: OpenSearch) -> dict[str, int]:
    """The cluster's effective query limits as backend options (`max_query_string_length`,
    `max_clause_count`), so rules are converted for the cluster they run on: a raised limit lets a long
    rule convert instead of being refused. Empty when the settings cannot be read (e.g. no cluster monitor
    privilege): the backends then assume OpenSearch's defaults (a cluster whose limits were lowered below
    them then fails such a rule's search with the cluster's error, reported as the rule's error)."""
    try:
        settings = client.cluster.get_settings(include_defaults=True, flat_settings=True)
    except OpenSearchException:
        return {}
    limits: dict[str, int] = {}
    for option, setting in QUERY_LIMIT_SETTINGS.items():
        # transient overrides persistent overrides the default
        for scope in ("transient", "persistent", "defaults"):
            value = settings.get(scope, {}).get(setting)
            if value is not None:
                limits[option] = int(value)
                break
    return limits


def engine_of(client: OpenSearch) -> str:
    """"opensearch" or "elasticsearch", from the cluster's root endpoint."""
    info = client.info()
    return "opensearch" if info.get("version", {}).get("distribution") == "opensearch" else "elasticsearch"
