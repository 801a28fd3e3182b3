"""Cluster connection from options or environment: URL, basic auth or API key, CA bundle, TLS verify.

Secrets are only handed to the client; nothing here prints or logs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import OpenSearchException


@dataclass(frozen=True)
class Connection:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_cert: str | None = None
    verify: bool = True
    timeout: int = 60

    def client(self) -> OpenSearch:
        """An HTTP client for OpenSearch or Elasticsearch (only plain REST endpoints are used)."""
        kwargs: dict[str, Any] = {"verify_certs": self.verify, "ssl_show_warn": False, "timeout": self.timeout}
        if self.ca_cert:
            kwargs["ca_certs"] = self.ca_cert
        if self.username:
            kwargs["http_auth"] = (self.username, self.password or "")
        if self.api_key:
            kwargs["headers"] = {"Authorization": f"ApiKey {self.api_key}"}
        return OpenSearch(self.url, **kwargs)


# Dynamic OpenSearch cluster settings that bound a query, by the backend option that declares each.
QUERY_LIMIT_SETTINGS = {
    "max_query_string_length": "search.query.max_query_string_length",
    "max_clause_count": "indices.query.bool.max_clause_count",
}


def query_limits(client: OpenSearch) -> dict[str, int]:
    """The cluster's effective query limits as backend options (`max_query_string_length`,
    `max_clause_count`), so rules are converted for the cluster they run on: a raised limit lets a long
    rule convert instead of being refused. Empty when the settings cannot be read (e.g. no cluster monitor
    privilege): the backends then assume the defaults, which refuses more, never less."""
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
