"""Cluster connection from options or environment: URL, basic auth or API key, CA bundle, TLS verify.

Secrets are only handed to the client; nothing here prints or logs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch


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


def engine_of(client: OpenSearch) -> str:
    """"opensearch" or "elasticsearch", from the cluster's root endpoint."""
    info = client.info()
    return "opensearch" if info.get("version", {}).get("distribution") == "opensearch" else "elasticsearch"
